package cliflags

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		json bool
		n    int
	}{
		{args: nil, pos: nil},
		{args: []string{"a", "b"}, pos: []string{"a", "b"}},
		{args: []string{"--json", "a", "-n", "3", "b"}, pos: []string{"a", "b"}, json: true, n: 3},
		{args: []string{"a", "--json", "b", "-n=2"}, pos: []string{"a", "b"}, json: true, n: 2},
		{args: []string{"a", "--", "-n", "--json"}, pos: []string{"a", "-n", "--json"}},
		{args: []string{"--", "a"}, pos: []string{"a"}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		asJSON := fs.Bool("json", false, "")
		n := fs.Int("n", 0, "")
		pos, err := Parse(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *asJSON != tc.json || *n != tc.n {
			t.Errorf("Parse(%q) = %q, %v (json %v, n %d); want %q (json %v, n %d)", tc.args, pos, err, *asJSON, *n, tc.pos, tc.json, tc.n)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := Parse(fs, []string{"a", "--nope"}); err == nil || errors.Is(err, flag.ErrHelp) {
		t.Errorf("unknown flag after an argument: %v, want an error", err)
	}
	if _, err := Parse(fs, []string{"a", "-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h after an argument: %v, want flag.ErrHelp", err)
	}
}
