package bench

import (
	"encoding/json"
	"strconv"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
)

// EventType is the type of every benchmark event.
const EventType = "OrderPlaced"

var countries = [...]string{"DE", "FR", "NL", "GB", "US", "SE", "PL", "ES"}
var cities = [...]string{"Berlin", "Paris", "Utrecht", "Leeds", "Austin", "Malmo", "Gdansk", "Sevilla"}

// OrderJSON returns the data of benchmark event n: an order with a line
// item, a shipping address and the send time sentNs (UnixNano, 0 when the
// scenario does not measure latency), padded with a note to about size bytes.
func OrderJSON(n int64, sentNs int64, size int) []byte {
	b := make([]byte, 0, max(size, 200)+16)
	b = append(b, `{"order_id":"ord-`...)
	b = strconv.AppendInt(b, 10_000_000+n, 10)
	b = append(b, `","customer_id":"cus-`...)
	b = strconv.AppendInt(b, 100_000+n%7919, 10)
	b = append(b, `","currency":"EUR","total_cents":`...)
	b = strconv.AppendInt(b, 1999*(1+n%5)+499, 10)
	b = append(b, `,"lines":[{"sku":"SKU-`...)
	b = strconv.AppendInt(b, 1000+n%512, 10)
	b = append(b, `","qty":`...)
	b = strconv.AppendInt(b, 1+n%5, 10)
	b = append(b, `,"price_cents":1999}],"shipping":{"country":"`...)
	b = append(b, countries[n%int64(len(countries))]...)
	b = append(b, `","city":"`...)
	b = append(b, cities[n%int64(len(cities))]...)
	b = append(b, `","postcode":"`...)
	b = strconv.AppendInt(b, 10_000+n%89_999, 10)
	b = append(b, `"},"sent_ns":`...)
	b = strconv.AppendInt(b, sentNs, 10)
	b = append(b, `,"note":"`...)
	for i := 0; len(b) < size-2; i++ {
		b = append(b, "leave at the door "[i%18])
	}
	b = append(b, `"}`...)
	return b
}

// sentAt extracts sent_ns and the order number from OrderJSON data without
// a full decode.
func sentAt(data []byte) (n int64, sentNs int64, ok bool) {
	var v struct {
		OrderID string `json:"order_id"`
		SentNs  int64  `json:"sent_ns"`
	}
	if err := json.Unmarshal(data, &v); err != nil || len(v.OrderID) < 5 {
		return 0, 0, false
	}
	id, err := strconv.ParseInt(v.OrderID[4:], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return id - 10_000_000, v.SentNs, true
}

// payload is one pre-generated event in both forms: the eventlog input (no
// id: the store assigns one, as most callers let it) and the plain-pgx row
// values (metadata already encoded, as a plain application would store it).
type payload struct {
	data     eventlog.EventData
	metaJSON []byte
}

// newPayload returns event n with a fresh correlation id.
func newPayload(n int64, sentNs int64, size int) payload {
	md := eventlog.Metadata{CorrelationID: uuid.NewString()}
	meta, err := json.Marshal(md)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return payload{
		data:     eventlog.EventData{Type: EventType, Data: OrderJSON(n, sentNs, size), Metadata: md},
		metaJSON: meta,
	}
}

// payloadRing is a fixed set of pre-generated payloads that appenders cycle
// through, so that generating them is not measured.
type payloadRing []payload

func newPayloadRing(n, size int) payloadRing {
	r := make(payloadRing, n)
	for i := range r {
		r[i] = newPayload(int64(i), 0, size)
	}
	return r
}

func (r payloadRing) at(i int64) *payload { return &r[i%int64(len(r))] }

// EventSize returns the data and metadata sizes in bytes of a typical
// benchmark event.
func EventSize(dataSize int) (data, metadata int) {
	p := newPayload(1234, 0, dataSize)
	return len(p.data.Data), len(p.metaJSON)
}
