package memory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
)

// Events name their type once; appends infer it.
type (
	OrderPlaced  struct{ Total int }
	OrderShipped struct{ Carrier string }
)

func (OrderPlaced) EventType() string  { return "OrderPlaced" }
func (OrderShipped) EventType() string { return "OrderShipped" }

// Append with expected versions, read a stream, read the whole log: the
// PostgreSQL store's semantics, in memory, for unit tests.
func Example() {
	ctx := context.Background()
	log := memory.New(memory.Options{})
	defer log.Close()

	placed, _ := eventlog.Encode(OrderPlaced{Total: 30})
	res, _ := log.Append(ctx, "order-1", eventlog.NoStream, placed) // create the stream
	fmt.Println("order-1 at version", res.NextExpectedVersion)

	// A writer that read version 0 (no stream) is refused now.
	_, err := log.Append(ctx, "order-1", eventlog.NoStream, placed)
	fmt.Println(errors.Is(err, eventlog.ErrWrongExpectedVersion))

	shipped, _ := eventlog.Encode(OrderShipped{Carrier: "ups"})
	log.Append(ctx, "order-1", eventlog.Exactly(res.NextExpectedVersion), shipped)
	other, _ := eventlog.Encode(OrderPlaced{Total: 12})
	log.Append(ctx, "order-2", eventlog.NoStream, other)

	for e, err := range log.ReadStream(ctx, "order-1", eventlog.ReadStreamOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.StreamID, e.Version, e.Type, string(e.Data))
	}
	// Every OrderPlaced in global order, as a subscription reads them.
	for e, err := range log.ReadAll(ctx, eventlog.Start, eventlog.Filter{Types: []string{"OrderPlaced"}}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		placed, _ := eventlog.Decode[OrderPlaced](e)
		fmt.Println(e.StreamID, placed.Data.Total)
	}
	// Output:
	// order-1 at version 1
	// true
	// order-1 1 OrderPlaced {"Total":30}
	// order-1 2 OrderShipped {"Carrier":"ups"}
	// order-1 30
	// order-2 12
}
