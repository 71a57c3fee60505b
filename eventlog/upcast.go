package eventlog

import (
	"encoding/json"
	"fmt"
)

// Upcaster turns events stored in an old type or shape into the current
// one, at read time: stored events are never rewritten. Fn receives the
// stored data and returns the new data; the event's Type becomes To.
type Upcaster struct {
	From string // stored type, e.g. "OrderPlaced.v1"
	To   string // current type, e.g. "OrderPlaced"
	Fn   func(data json.RawMessage) (json.RawMessage, error)
}

// Upcasters applies upcasters by stored type, chaining them (v1 → v2 → v3).
// The zero value holds none.
type Upcasters struct {
	byFrom map[string]Upcaster
}

// maxUpcastChain bounds a chain, so a cycle is an error, not a hang.
const maxUpcastChain = 32

// Add registers an upcaster; a second one for the same From is an error.
func (u *Upcasters) Add(up Upcaster) error {
	if err := ValidateEventType(up.From); err != nil {
		return fmt.Errorf("eventlog: upcaster from: %w", err)
	}
	if err := ValidateEventType(up.To); err != nil {
		return fmt.Errorf("eventlog: upcaster to: %w", err)
	}
	if up.Fn == nil {
		up.Fn = func(d json.RawMessage) (json.RawMessage, error) { return d, nil }
	}
	if u.byFrom == nil {
		u.byFrom = map[string]Upcaster{}
	}
	if _, dup := u.byFrom[up.From]; dup {
		return fmt.Errorf("eventlog: two upcasters from %q", up.From)
	}
	u.byFrom[up.From] = up
	return nil
}

// Sources returns the stored types that upcast, directly or through a
// chain, into one of types: a reader filtering by type must read them too.
func (u *Upcasters) Sources(types []string) []string {
	want := map[string]bool{}
	for _, t := range types {
		want[t] = true
	}
	var out []string
	for from := range u.byFrom {
		t := from
		for i := 0; i < maxUpcastChain; i++ {
			up, ok := u.byFrom[t]
			if !ok {
				break
			}
			t = up.To
			if want[t] {
				out = append(out, from)
				break
			}
		}
	}
	return out
}

// Apply upcasts e in place until no upcaster matches its type.
func (u *Upcasters) Apply(e *Event) error {
	for i := 0; ; i++ {
		up, ok := u.byFrom[e.Type]
		if !ok {
			return nil
		}
		if i == maxUpcastChain {
			return fmt.Errorf("eventlog: upcasting %s: chain longer than %d (a cycle?)", e.ID, maxUpcastChain)
		}
		data, err := up.Fn(e.Data)
		if err != nil {
			return fmt.Errorf("eventlog: upcast %s event %s to %s: %w", up.From, e.ID, up.To, err)
		}
		e.Type, e.Data = up.To, data
	}
}
