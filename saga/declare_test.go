package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

type otherState struct{}

// TestDeclarationMistakes: options written for another state type or event
// type, misplaced step options and names that disagree are reported by Err
// when the saga is declared.
func TestDeclarationMistakes(t *testing.T) {
	noop := func(context.Context, *saga.StepContext[orderState]) error { return nil }
	other := func(context.Context, *saga.StepContext[otherState]) error { return nil }
	rawStart := func(ctx context.Context, e eventlog.Envelope[json.RawMessage]) (saga.Start[orderState], error) {
		return saga.Start[orderState]{CorrelationID: "x"}, nil
	}
	onPaid := saga.OnEvent(func(ctx context.Context, sc *saga.StepContext[orderState], e eventlog.Envelope[paid]) error {
		return nil
	})
	onOrder := saga.OnEvent(func(ctx context.Context, sc *saga.StepContext[orderState], e eventlog.Envelope[order]) error {
		return nil
	})
	for _, tc := range []struct {
		name string
		opts []saga.Option
		want string
		is   error
	}{
		{"step for another state", []saga.Option{startOnOrder(), saga.Step("a", other)}, "written for state", nil},
		{"compensation for another state", []saga.Option{startOnOrder(), saga.Step("a", noop, saga.Compensate(other))}, "compensation is written for state", nil},
		{"start for another state", []saga.Option{saga.StartOnType("X", func(ctx context.Context, e eventlog.Envelope[json.RawMessage]) (saga.Start[otherState], error) {
			return saga.Start[otherState]{}, nil
		}), saga.Step("a", noop)}, "StartOn X is written for state", nil},
		{"start type mismatch", []saga.Option{saga.StartOnType("Other", func(ctx context.Context, e eventlog.Envelope[order]) (saga.Start[orderState], error) {
			return saga.Start[orderState]{}, nil
		}), saga.Step("a", noop)}, "", eventlog.ErrTypeMismatch},
		{"unnamed start type", []saga.Option{saga.StartOn(rawStart), saga.Step("a", noop)}, "json.RawMessage", eventlog.ErrUnnamedType},
		{"OnEvent on an action", []saga.Option{startOnOrder(), saga.Step("a", noop, onPaid)}, "OnEvent is for WaitFor", nil},
		{"OnEvent of another event", []saga.Option{startOnOrder(), saga.WaitFor("w", paidOrder, onOrder)}, "OnEvent takes \"OrderPlaced\"", eventlog.ErrTypeMismatch},
		{"compensating a wait", []saga.Option{startOnOrder(), saga.WaitFor("w", paidOrder, saga.Compensate(noop))}, "nothing to compensate", nil},
		{"two steps of one name", []saga.Option{startOnOrder(), saga.Step("a", noop), saga.Step("a", noop)}, "two steps named", nil},
		{"no start", []saga.Option{saga.Step("a", noop)}, "no start event", nil},
		{"two starts", []saga.Option{startOnOrder(), startOnOrder(), saga.Step("a", noop)}, "declared twice", nil},
	} {
		err := saga.New[orderState]("d", tc.opts...).Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: Err() = %v; want %q (%v)", tc.name, err, tc.want, tc.is)
		}
	}
	ok := saga.New[orderState]("d", startOnOrder(), saga.StartOnType("Manual", rawStart),
		saga.Step("a", noop, saga.Compensate(noop)), saga.WaitFor("w", paidOrder, onPaid), saga.Partitions(2))
	if err := ok.Err(); err != nil {
		t.Fatalf("a valid saga: %v", err)
	}
}
