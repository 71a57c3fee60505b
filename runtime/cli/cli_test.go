package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/causewayhq/causeway/runtime/cli"
)

// TestExecuteWithoutDatabase: the command line on its own — help, version,
// a program's command, usage mistakes — and a program without Settings
// fails its database commands with a message instead of panicking.
func TestExecuteWithoutDatabase(t *testing.T) {
	var got []string
	p := cli.Program{Name: "shop", Commands: []cli.Command{{Name: "hello", Summary: "say hello",
		Run: func(ctx context.Context, args []string) error {
			got = args
			if len(args) == 0 {
				return fmt.Errorf("%w: want a name", cli.ErrUsage)
			}
			return nil
		}}}}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := cli.Execute(context.Background(), p, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, _ := run("help"); code != 0 || !strings.Contains(out, "hello") || !strings.Contains(out, "migrate") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "shop (causeway ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, _ := run("hello", "ann"); code != 0 || len(got) != 1 || got[0] != "ann" {
		t.Fatalf("hello ann: %d %v", code, got)
	}
	if code, _, errOut := run("hello"); code != 2 || !strings.Contains(errOut, "shop hello: want a name") {
		t.Fatalf("hello without a name: %d %q", code, errOut)
	}
	if code, _, errOut := run("nope"); code != 2 || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	for _, cmd := range []string{"run", "status", "migrate"} {
		if code, _, errOut := run(cmd); code != 1 || !strings.Contains(errOut, "no Settings") {
			t.Fatalf("%s without Settings: %d %q", cmd, code, errOut)
		}
	}
}
