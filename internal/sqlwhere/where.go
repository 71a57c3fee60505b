// Package sqlwhere builds the WHERE clause of list queries from optional
// filters, numbering the parameters as it goes.
package sqlwhere

import (
	"fmt"
	"strings"
)

// Builder collects conditions and their arguments.
type Builder struct {
	conds []string
	args  []any
}

// Add appends a condition whose one %d is replaced by the parameter number
// of v, e.g. Add("subscription = $%d", name).
func (b *Builder) Add(cond string, v any) {
	b.args = append(b.args, v)
	b.conds = append(b.conds, fmt.Sprintf(cond, len(b.args)))
}

// SQL returns " WHERE c1 AND c2 …", or "" without conditions.
func (b *Builder) SQL() string {
	if len(b.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(b.conds, " AND ")
}

// Args returns the arguments, in parameter order.
func (b *Builder) Args() []any { return b.args }
