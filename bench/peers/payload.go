package peers

import (
	"encoding/json"
	"fmt"
	"strings"
)

// OrderPlaced is the event every arm writes: an order of about
// Options.DataSize bytes of JSON.
type OrderPlaced struct {
	OrderID    string `json:"order_id"`
	Customer   string `json:"customer"`
	TotalCents int64  `json:"total_cents"`
	Note       string `json:"note"`
}

// EventType names OrderPlaced for Causeway's typed decoding.
func (OrderPlaced) EventType() string { return "OrderPlaced" }

// orderJSON is order n's JSON, padded to about size bytes.
func orderJSON(n int64, size int) []byte {
	o := OrderPlaced{OrderID: orderID(n), Customer: fmt.Sprintf("cust-%d", n%977), TotalCents: 1000 + n%9000}
	b, _ := json.Marshal(o)
	if pad := size - len(b); pad > 0 {
		o.Note = strings.Repeat("x", pad)
		b, _ = json.Marshal(o)
	}
	return b
}

func orderID(n int64) string { return fmt.Sprintf("ord-%d", n) }

// parseOrderID is the inverse of orderID.
func parseOrderID(s string) (int64, bool) {
	var n int64
	if _, err := fmt.Sscanf(s, "ord-%d", &n); err != nil {
		return 0, false
	}
	return n, true
}
