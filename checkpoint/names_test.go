package checkpoint_test

import (
	"errors"
	"testing"

	"github.com/causewayhq/causeway/checkpoint"
)

func TestBuildNames(t *testing.T) {
	name := checkpoint.BuildName("order_summary", 12)
	if name != "order_summary#12" {
		t.Fatalf("BuildName = %q", name)
	}
	if err := checkpoint.ValidateName(name); err != nil {
		t.Fatalf("a build's name is a valid subscription name: %v", err)
	}
	if err := checkpoint.ValidateBaseName(name); !errors.Is(err, checkpoint.ErrInvalidName) {
		t.Fatalf("ValidateBaseName(%q) = %v, want ErrInvalidName", name, err)
	}
	if got := checkpoint.Lineage(name); got != "order_summary" {
		t.Fatalf("Lineage = %q", got)
	}
	if got := checkpoint.Lineage("plain"); got != "plain" {
		t.Fatalf("Lineage(plain) = %q", got)
	}
	if p, n, ok := checkpoint.ParseBuildName(name); !ok || p != "order_summary" || n != 12 {
		t.Fatalf("ParseBuildName = %q %d %v", p, n, ok)
	}
	for _, bad := range []string{"x#0", "x#", "#1", "x#1#2", "x#a"} {
		if err := checkpoint.ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
		if _, _, ok := checkpoint.ParseBuildName(bad); ok && bad != "x#1#2" {
			t.Errorf("ParseBuildName(%q) accepted", bad)
		}
	}
}
