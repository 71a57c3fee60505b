package reliability

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// maxExamples is how many examples each violation kind keeps.
const maxExamples = 5

// Violation is one kind of broken promise found by a run.
type Violation struct {
	Kind     string   `json:"kind"`
	Count    int      `json:"count"`
	Examples []string `json:"examples"`
}

// violations collects violations by kind; safe for concurrent use.
type violations struct {
	mu     sync.Mutex
	byKind map[string]*Violation
}

func newViolations() *violations { return &violations{byKind: map[string]*Violation{}} }

// add records one violation of kind with an example.
func (v *violations) add(kind, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	x := v.byKind[kind]
	if x == nil {
		x = &Violation{Kind: kind}
		v.byKind[kind] = x
	}
	x.Count++
	if len(x.Examples) < maxExamples {
		x.Examples = append(x.Examples, fmt.Sprintf(format, args...))
	}
}

// list returns the violations sorted by kind.
func (v *violations) list() []Violation {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Violation
	for _, k := range slices.Sorted(maps.Keys(v.byKind)) {
		x := *v.byKind[k]
		x.Examples = slices.Clone(x.Examples)
		out = append(out, x)
	}
	return out
}
