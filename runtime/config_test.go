package runtime_test

import (
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/runtime"
)

// TestConfigFromEnvReportsBadValues: every variable that is set but cannot
// be parsed is reported by name with its expected form; good ones apply.
func TestConfigFromEnvReportsBadValues(t *testing.T) {
	t.Setenv("CAUSEWAY_LEASE_TTL", "10")
	t.Setenv("CAUSEWAY_READY_MAX_LAG", "lots")
	t.Setenv("CAUSEWAY_SAGA_CONCURRENCY", "0")
	t.Setenv("CAUSEWAY_DISABLE_NOTIFY", "yes please")
	t.Setenv("CAUSEWAY_CONNECT_TIMEOUT", "3s")
	cfg, err := runtime.ConfigFromEnv()
	bad := map[string]bool{}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ee *runtime.EnvError
		if !errors.As(e, &ee) || ee.Want == "" {
			t.Fatalf("error %v is not an *EnvError with the expected form", e)
		}
		bad[ee.Var] = true
	}
	for _, v := range []string{"CAUSEWAY_LEASE_TTL", "CAUSEWAY_READY_MAX_LAG", "CAUSEWAY_SAGA_CONCURRENCY", "CAUSEWAY_DISABLE_NOTIFY"} {
		if !bad[v] {
			t.Errorf("%s not reported (errors: %v)", v, err)
		}
	}
	if len(bad) != 4 || cfg.ConnectTimeout != 3*time.Second {
		t.Fatalf("reported %v, connect timeout %v; want 4 variables and 3s", bad, cfg.ConnectTimeout)
	}
}
