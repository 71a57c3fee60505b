package eventlogtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
)

// Typed events of the fold and upcast tests.
type (
	deposited struct {
		Amount int `json:"amount"`
	}
	withdrawn struct {
		Amount int `json:"amount"`
	}
	frozen  struct{}
	account struct {
		Balance int
		Frozen  bool
	}
)

func (deposited) EventType() string { return "Deposited" }
func (withdrawn) EventType() string { return "Withdrawn" }
func (frozen) EventType() string    { return "Frozen" }

var errRefused = errors.New("refused")

func accountFold(opts ...eventlog.FoldOption[account]) *eventlog.Fold[account] {
	return eventlog.NewFold(append([]eventlog.FoldOption[account]{
		eventlog.Evolve(func(a account, e eventlog.Envelope[deposited]) account { a.Balance += e.Data.Amount; return a }),
		eventlog.Evolve(func(a account, e eventlog.Envelope[withdrawn]) account { a.Balance -= e.Data.Amount; return a }),
	}, opts...)...)
}

func withdraw(n int) func(context.Context, account) ([]eventlog.Named, error) {
	return func(_ context.Context, a account) ([]eventlog.Named, error) {
		if a.Frozen || a.Balance < n {
			return nil, errRefused
		}
		return []eventlog.Named{withdrawn{Amount: n}}, nil
	}
}

// testFold: a typed fold loads state and version, decides, and appends at
// that version; a concurrent append makes the decision a version conflict.
func testFold(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	acct := accountFold(eventlog.Evolve(func(a account, _ eventlog.Envelope[frozen]) account { a.Frozen = true; return a }))

	if got, err := acct.Load(ctx, s, "acct-1"); err != nil || got.Version != 0 || got.State != (account{}) {
		t.Fatalf("empty stream: %+v, %v", got, err)
	}
	evs, _ := eventlog.EncodeAll(deposited{50}, deposited{20})
	mustAppend(t, s, "acct-1", eventlog.NoStream, evs...)
	if got, err := acct.Load(ctx, s, "acct-1"); err != nil || got.Version != 2 || got.State.Balance != 70 {
		t.Fatalf("Load = %+v, %v; want balance 70 at version 2", got, err)
	}
	res, err := acct.Decide(ctx, s, "acct-1", withdraw(30), eventlog.WithMetadata(eventlog.Metadata{CorrelationID: "req-1"}))
	if err != nil || res.NextExpectedVersion != 3 {
		t.Fatalf("Decide = %+v, %v", res, err)
	}
	last := readStream(t, s, "acct-1", eventlog.ReadStreamOptions{Direction: eventlog.Backwards, Limit: 1})[0]
	if last.Type != "Withdrawn" || last.Metadata.CorrelationID != "req-1" {
		t.Fatalf("appended %+v", last)
	}
	if _, err := acct.Decide(ctx, s, "acct-1", withdraw(100)); !errors.Is(err, errRefused) {
		t.Fatalf("overdraft: %v", err)
	}

	// A writer that appends between the load and the append wins; the
	// decision fails with the usual conflict and writes nothing.
	_, err = acct.Decide(ctx, s, "acct-1", func(ctx context.Context, a account) ([]eventlog.Named, error) {
		e, _ := eventlog.Encode(frozen{})
		mustAppend(t, s, "acct-1", eventlog.Any, e)
		return withdraw(10)(ctx, a)
	})
	if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		t.Fatalf("concurrent append: %v; want ErrWrongExpectedVersion", err)
	}
	got, err := acct.Load(ctx, s, "acct-1")
	if err != nil || got.Version != 4 || got.State != (account{Balance: 40, Frozen: true}) {
		t.Fatalf("after the conflict: %+v, %v", got, err)
	}
	if _, err := acct.Decide(ctx, s, "acct-1", withdraw(10)); !errors.Is(err, errRefused) {
		t.Fatalf("frozen account: %v", err)
	}

	// Unknown types are an error unless ignored.
	strict := accountFold()
	if _, err := strict.Load(ctx, s, "acct-1"); !errors.Is(err, eventlog.ErrUnknownEventType) || !strings.Contains(err.Error(), "Frozen") {
		t.Fatalf("unknown type: %v", err)
	}
	lax := accountFold(eventlog.IgnoreUnknown[account]())
	if got, err := lax.Load(ctx, s, "acct-1"); err != nil || got.Version != 4 || got.State.Balance != 40 {
		t.Fatalf("ignoring unknown types: %+v, %v", got, err)
	}

	// Declaration mistakes.
	type nameless struct{}
	bad := eventlog.NewFold(eventlog.Evolve(func(a account, _ eventlog.Envelope[nameless]) account { return a }))
	if _, err := bad.Load(ctx, s, "acct-1"); !errors.Is(err, eventlog.ErrUnnamedType) {
		t.Fatalf("fold of an unnamed type: %v", err)
	}
	dup := accountFold(eventlog.EvolveType("Deposited", func(a account, _ eventlog.Envelope[json.RawMessage]) account { return a }))
	if err := dup.Err(); err == nil || !strings.Contains(err.Error(), "two evolve functions") {
		t.Fatalf("duplicate evolve: %v", err)
	}
	mismatch := eventlog.NewFold(eventlog.EvolveType("Withdrawn", func(a account, _ eventlog.Envelope[deposited]) account { return a }))
	if err := mismatch.Err(); !errors.Is(err, eventlog.ErrTypeMismatch) {
		t.Fatalf("string form naming another type: %v", err)
	}
}

// testUpcastStore: reads through an UpcastStore return current types and
// shapes (stream reads, batches, ReadAll), a type filter also reads the
// old types, an upcaster's failure marks that one event, and folds see
// only current shapes.
func testUpcastStore(t *testing.T, newStore NewStore) {
	inner := newStore(t, Options{})
	ctx := ctxT(t)
	s, err := eventlog.WithUpcasters(inner,
		eventlog.Upcaster{From: "Deposited.v1", To: "Deposited", Fn: func(d json.RawMessage) (json.RawMessage, error) {
			var old struct {
				Cents int `json:"cents"`
			}
			if err := json.Unmarshal(d, &old); err != nil {
				return nil, err
			}
			return json.Marshal(deposited{Amount: old.Cents / 100})
		}})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, inner, "acct-1", eventlog.NoStream, ev(t, "Deposited.v1", map[string]int{"cents": 5000}), ev(t, "Deposited", deposited{7}))
	last := mustAppend(t, inner, "acct-2", eventlog.NoStream, ev(t, "Deposited.v1", "not an object"), ev(t, "Withdrawn", withdrawn{1}))
	waitVisible(t, inner, lastPos(last))

	got, err := accountFold().Load(ctx, s, "acct-1")
	if err != nil || got.State.Balance != 57 || got.Version != 2 {
		t.Fatalf("fold through upcasters: %+v, %v", got, err)
	}
	if _, err := accountFold().Load(ctx, inner, "acct-1"); !errors.Is(err, eventlog.ErrUnknownEventType) {
		t.Fatalf("fold of the raw store should meet Deposited.v1: %v", err)
	}
	if _, err := accountFold().Load(ctx, s, "acct-2"); err == nil {
		t.Fatal("fold over an event its upcaster fails on succeeded")
	}

	b, err := s.ReadBatch(ctx, eventlog.Start, eventlog.Filter{Types: []string{"Deposited"}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range b.Events {
		types = append(types, e.Type)
		if e.Type == "Deposited" && e.UpcastErr() != nil {
			t.Fatalf("event %+v", e)
		}
	}
	if strings.Join(types, ",") != "Deposited,Deposited,Deposited.v1" || b.Events[2].UpcastErr() == nil {
		t.Fatalf("filtered batch types %v (want the two upcast deposits, then the failed one as stored)", types)
	}
	if string(b.Events[0].Data) != `{"amount":50}` {
		t.Fatalf("upcast data %s", b.Events[0].Data)
	}
	// Filtering on the old type finds nothing: it no longer exists for readers.
	if b, err := s.ReadBatch(ctx, eventlog.Start, eventlog.Filter{Types: []string{"Withdrawn"}}, 100); err != nil || len(b.Events) != 1 {
		t.Fatalf("Withdrawn: %+v, %v", b.Events, err)
	}
	n := 0
	for e, err := range s.ReadAll(ctx, eventlog.Start, eventlog.Filter{Categories: []string{"acct"}}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "Deposited.v1" && e.UpcastErr() == nil {
			t.Fatalf("ReadAll returned an old type: %+v", e)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("ReadAll: %d events", n)
	}
	if c, err := s.CountBetween(ctx, eventlog.Start, mustHead(t, s), eventlog.Filter{Types: []string{"Deposited"}}); err != nil || c != 3 {
		t.Fatalf("CountBetween = %d, %v", c, err)
	}
	if _, ok := inner.(Tailed); ok && s.Tailer() == nil {
		t.Fatal("UpcastStore hides the store's tailer")
	}
	if _, err := eventlog.WithUpcasters(inner, eventlog.Upcaster{From: "A.v1", To: "A"}, eventlog.Upcaster{From: "A.v1", To: "B"}); err == nil {
		t.Fatal("two upcasters from one type accepted")
	}
}

func mustHead(t *testing.T, s eventlog.Store) eventlog.Position {
	t.Helper()
	h, err := s.Head(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
