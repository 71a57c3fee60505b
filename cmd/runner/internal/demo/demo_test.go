package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/cmd/runner/internal/demo"
	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDemo runs the demo end to end: every order shipped or compensated as
// its card says with its customer email sent through the queue, the read
// model built, and identical after a replay.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := demo.Run(ctx, demo.Options{Orders: 30, DeclinedEvery: 3, DatabaseURL: pgtest.URL(t), Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"placed 30 orders", "the rebuilt read model is identical", "every order is shipped or compensated"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "compensated  cancelled  reserve_stock ✓, charge_payment ✗, undo reserve_stock ✓"); n != 10 {
		t.Fatalf("%d compensated orders with a cancellation email in the output, want 10:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "completed    shipped    reserve_stock ✓, charge_payment ✓, ship ✓"); n != 20 {
		t.Fatalf("%d shipped orders with a shipping email in the output, want 20:\n%s", n, out.String())
	}
}
