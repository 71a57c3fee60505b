package eventlog_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
)

type placed struct {
	Order string `json:"order"`
}

func (placed) EventType() string { return "OrderPlaced" }

type shippedPtr struct{ Tracking string }

func (*shippedPtr) EventType() string { return "OrderShipped" }

type unnamed struct{ N int }

type badlyNamed struct{}

func (badlyNamed) EventType() string { return "not a type" }

func TestTypeName(t *testing.T) {
	for _, tc := range []struct {
		got  func() (string, error)
		want string
	}{
		{eventlog.TypeName[placed], "OrderPlaced"},
		{eventlog.TypeName[*placed], "OrderPlaced"},
		{eventlog.TypeName[shippedPtr], "OrderShipped"}, // pointer receiver
		{eventlog.TypeName[*shippedPtr], "OrderShipped"},
	} {
		got, err := tc.got()
		if err != nil || got != tc.want {
			t.Errorf("TypeName = %q, %v; want %q", got, err, tc.want)
		}
	}
	_, err := eventlog.TypeName[unnamed]()
	if !errors.Is(err, eventlog.ErrUnnamedType) || !strings.Contains(err.Error(), "eventlog_test.unnamed") {
		t.Errorf("unnamed type: %v; want ErrUnnamedType naming the type", err)
	}
	if _, err := eventlog.TypeName[badlyNamed](); !errors.Is(err, eventlog.ErrInvalidEventType) {
		t.Errorf("invalid declared name: %v", err)
	}
}

func TestEncodeInfersTheName(t *testing.T) {
	e, err := eventlog.Encode(placed{Order: "o-1"})
	if err != nil || e.Type != "OrderPlaced" || string(e.Data) != `{"order":"o-1"}` {
		t.Fatalf("Encode = %+v, %v", e, err)
	}
	if e, err := eventlog.Encode(&shippedPtr{Tracking: "t"}); err != nil || e.Type != "OrderShipped" {
		t.Fatalf("Encode(pointer receiver) = %+v, %v", e, err)
	}
	if _, err := eventlog.Encode((*shippedPtr)(nil)); err == nil {
		t.Fatal("Encode(nil pointer) succeeded")
	}
	all, err := eventlog.EncodeAll(placed{"a"}, &shippedPtr{"b"})
	if err != nil || len(all) != 2 || all[0].Type != "OrderPlaced" || all[1].Type != "OrderShipped" {
		t.Fatalf("EncodeAll = %+v, %v", all, err)
	}
}

func TestNewEventRefusesADisagreeingName(t *testing.T) {
	if _, err := eventlog.NewEvent("OrderShipped", placed{}); !errors.Is(err, eventlog.ErrTypeMismatch) {
		t.Fatalf("NewEvent(OrderShipped, placed) = %v; want ErrTypeMismatch", err)
	}
	if _, err := eventlog.NewEvent("OrderPlaced", &placed{}); err != nil {
		t.Fatalf("the declared name: %v", err)
	}
	// Types that declare no name, and raw JSON, take any name.
	for _, v := range []any{unnamed{1}, map[string]int{"n": 1}, json.RawMessage(`{}`), nil} {
		if _, err := eventlog.NewEvent("Anything", v); err != nil {
			t.Fatalf("NewEvent(Anything, %T): %v", v, err)
		}
	}
	if err := eventlog.CheckTypeName[placed]("Other"); !errors.Is(err, eventlog.ErrTypeMismatch) {
		t.Fatalf("CheckTypeName: %v", err)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	raw := eventlog.Event{StreamID: "order-1", Version: 3, Type: "OrderPlaced", Data: json.RawMessage(`{"order":"o-9"}`)}
	env, err := eventlog.Decode[placed](raw)
	if err != nil || env.Data.Order != "o-9" || env.StreamID != "order-1" || env.Version != 3 || string(env.Event.Data) != `{"order":"o-9"}` {
		t.Fatalf("Decode = %+v, %v", env, err)
	}
	if _, err := eventlog.Decode[placed](eventlog.Event{Data: json.RawMessage(`[`)}); err == nil {
		t.Fatal("bad JSON decoded")
	}
}
