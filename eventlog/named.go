package eventlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// Named is implemented by a Go type that is an event: EventType returns the
// name its events are stored under. Declare it once, with a value receiver,
// returning a constant:
//
//	func (OrderPlaced) EventType() string { return "OrderPlaced" }
//
// Handlers, starts, waits, appends and folds then infer the name from the
// type; nothing else repeats the string. The method must not depend on the
// value: names are read from a zero value and cached per type.
type Named interface {
	EventType() string
}

var (
	// ErrUnnamedType is returned when a Go type used as an event has no
	// EventType() string method (with a value or a pointer receiver).
	ErrUnnamedType = errors.New("eventlog: type declares no event type (add an EventType() string method)")

	// ErrTypeMismatch is returned when an event type name given explicitly
	// (the string form) disagrees with the name the value's type declares.
	ErrTypeMismatch = errors.New("eventlog: event type does not match the name the Go type declares")
)

// typeNames caches declared names by Go type (reflect.Type → string; ""
// for a type that declares none).
var typeNames sync.Map

// TypeName returns the event type name T declares through its EventType
// method. T may be the event type or a pointer to it; the method may have a
// value or a pointer receiver. A type without the method is ErrUnnamedType;
// a declared name that is not a valid event type is ErrInvalidEventType.
func TypeName[T any]() (string, error) { return typeNameOf(reflect.TypeFor[T]()) }

// TypeNameOf is TypeName for the dynamic type of v.
func TypeNameOf(v any) (string, error) {
	if v == nil {
		return "", fmt.Errorf("%w: nil value", ErrUnnamedType)
	}
	return typeNameOf(reflect.TypeOf(v))
}

func typeNameOf(t reflect.Type) (string, error) {
	if n, ok := typeNames.Load(t); ok {
		if n == "" {
			return "", fmt.Errorf("%w: %s", ErrUnnamedType, t)
		}
		return n.(string), nil
	}
	base := t
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	// A pointer to a zero value has both receivers' methods and never
	// dereferences nil.
	n, ok := reflect.New(base).Interface().(Named)
	if !ok {
		typeNames.Store(t, "") // remembered: the string form asks on every append
		return "", fmt.Errorf("%w: %s", ErrUnnamedType, t)
	}
	name := n.EventType()
	if err := ValidateEventType(name); err != nil {
		return "", fmt.Errorf("eventlog: %s.EventType(): %w: %w", t, ErrInvalidEventType, err)
	}
	typeNames.Store(t, name)
	return name, nil
}

// CheckTypeName is the check behind every string form: a handler, start,
// wait or append declared for eventType with a Go type T is refused when T
// declares a different name (ErrTypeMismatch). A T that declares none
// (a map, json.RawMessage, a struct shared by several types) is accepted.
func CheckTypeName[T any](eventType string) error {
	return checkTypeName(reflect.TypeFor[T](), eventType)
}

func checkTypeName(t reflect.Type, eventType string) error {
	if err := ValidateEventType(eventType); err != nil {
		return fmt.Errorf("eventlog: event type %q: %w: %w", eventType, ErrInvalidEventType, err)
	}
	declared, err := typeNameOf(t)
	switch {
	case errors.Is(err, ErrUnnamedType):
		return nil
	case err != nil:
		return err
	case declared != eventType:
		return fmt.Errorf("%w: %q given, %s declares %q", ErrTypeMismatch, eventType, t, declared)
	}
	return nil
}

// Encode marshals v as the data of an event named by v's type (its
// EventType method): the typed way to build an append.
func Encode(v Named) (EventData, error) {
	if v == nil {
		return EventData{}, fmt.Errorf("%w: nil value", ErrUnnamedType)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return EventData{}, fmt.Errorf("eventlog: encode nil %T", v)
	}
	name, err := typeNameOf(reflect.TypeOf(v))
	if err != nil {
		return EventData{}, err
	}
	return marshalEvent(name, v)
}

// EncodeAll encodes several values (see Encode), for one append.
func EncodeAll(vs ...Named) ([]EventData, error) {
	out := make([]EventData, len(vs))
	for i, v := range vs {
		e, err := Encode(v)
		if err != nil {
			return nil, fmt.Errorf("eventlog: event #%d: %w", i, err)
		}
		out[i] = e
	}
	return out, nil
}

// NewEvent marshals v as the data of an event of the given type: the string
// form, for types chosen at run time. When v's Go type declares a name
// (Named) that is not eventType, it fails with ErrTypeMismatch.
func NewEvent(eventType string, v any) (EventData, error) {
	if v != nil {
		if err := checkTypeName(reflect.TypeOf(v), eventType); errors.Is(err, ErrTypeMismatch) {
			return EventData{}, err
		}
	}
	return marshalEvent(eventType, v)
}

func marshalEvent(eventType string, v any) (EventData, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return EventData{}, fmt.Errorf("eventlog: marshal %q data: %w", eventType, err)
	}
	return EventData{Type: eventType, Data: b}, nil
}
