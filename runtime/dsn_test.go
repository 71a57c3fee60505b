package runtime

import (
	"testing"
	"time"
)

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://alice:s3cret@db:5432/app", "postgres://alice:xxxxx@db:5432/app"},
		{"postgresql://alice@db/app?password=s3cret&sslmode=require", "postgresql://alice@db/app?password=xxxxx&sslmode=require"},
		{"postgres://alice:s3%cret@db/app", "postgres://alice:xxxxx@db/app"}, // does not parse as a URL
		{"host=db user=alice password=s3cret dbname=app", "host=db user=alice password=xxxxx dbname=app"},
		{"host=db password='s3 cret' sslpassword=k3y", "host=db password=xxxxx sslpassword=xxxxx"},
		{"postgres://db/app", "postgres://db/app"},
	} {
		if got := redactDSN(tc.in); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWithConnectTimeout(t *testing.T) {
	t.Setenv("PGCONNECT_TIMEOUT", "")
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"postgres://db/app?sslmode=disable", "postgres://db/app?connect_timeout=2&sslmode=disable"},
		{"postgres://db/app?connect_timeout=7", "postgres://db/app?connect_timeout=7"},
		{"host=db dbname=app", "host=db dbname=app connect_timeout=2"},
	} {
		if got := withConnectTimeout(tc.in, 1500*time.Millisecond); got != tc.want {
			t.Errorf("withConnectTimeout(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
