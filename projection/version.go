package projection

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrVersioned is returned for an in-place replay (Reset, Replay) of a
// versioned projection: rebuild it beside the live one instead (Builds.Start,
// `rebuild start NAME`).
var ErrVersioned = errors.New("projection is versioned: rebuild it (`rebuild start NAME`) instead of replaying it in place")

// Version makes the projection versioned (n ≥ 1 is the version of its
// code): it is built blue/green, each build in a schema of its own, and
// read through the views of its live schema (see LiveSchema and Builds).
// Its handlers and set-up hook write their tables unqualified; search_path
// points them at the build's schema. A deployment that raises n builds the
// new version beside the live one and switches readers when it has caught
// up. Without Version a projection is replayed in place, as before.
func Version(n int) Option {
	return func(p *Projection) {
		if n < 1 {
			p.errs = append(p.errs, fmt.Errorf("projection %s: version %d: want 1 or more", p.name, n))
			return
		}
		p.version = n
	}
}

// Schema names the live schema of a versioned projection: where readers
// read it (default: the projection's name, lower-cased, with . : - as _).
// Causeway owns that schema: it holds one view per table of the live build,
// re-created at every switch, and nothing else belongs there.
func Schema(name string) Option { return func(p *Projection) { p.liveSchema = name } }

// maxLiveSchema leaves room in PostgreSQL's 63 bytes for a build's suffix
// (buildSchema).
const maxLiveSchema = 50

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// liveSchemaName is the live schema: Schema's, or derived from the name.
func (p *Projection) liveSchemaName() (string, error) {
	s := p.liveSchema
	if s == "" {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '.', ':', '-':
				return '_'
			}
			return r
		}, strings.ToLower(p.name))
	}
	if len(s) > maxLiveSchema || !identRE.MatchString(s) || strings.HasPrefix(s, "pg_") {
		return "", fmt.Errorf("projection %s: live schema %q: want a lower-case identifier of at most %d bytes, not starting with pg_ (set it with projection.Schema)",
			p.name, s, maxLiveSchema)
	}
	return s, nil
}

// Versioned reports whether the projection is built blue/green (Version).
func (p *Projection) Versioned() bool { return p.version > 0 }

// CodeVersion is the version given to Version (0: not versioned).
func (p *Projection) CodeVersion() int { return p.version }

// LiveSchema is the schema readers read a versioned projection from: one
// view per table of the live build, switched atomically. Read
// "<LiveSchema>.<table>", or put it on search_path. Empty for an
// unversioned projection.
func LiveSchema(p *Projection) string {
	if !p.Versioned() {
		return ""
	}
	s, _ := p.liveSchemaName()
	return s
}

// buildSchema is the schema of build n: the live schema's name with a
// suffix (at most 50 + 12 bytes).
func buildSchema(live string, n int) string { return live + "__b" + strconv.Itoa(n) }
