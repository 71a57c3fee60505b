package runtime

// Connection strings: masking their passwords wherever one is shown (flag
// defaults, errors, logs) and giving every connection a connect timeout.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// redactedPassword replaces a password in a shown connection string.
const redactedPassword = "xxxxx"

var (
	// Key/value form: password='it''s' or password=plain.
	kvPassword = regexp.MustCompile(`((?:^|\s)(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.|'')*'|\S*)`)
	// A URL that does not parse: whatever lies between user: and @.
	urlPassword = regexp.MustCompile(`^([a-z]+://[^:/@]*):[^@]*@`)
)

// redactDSN returns a PostgreSQL connection string (URL or key/value form)
// with its passwords masked, for showing it in help, errors and logs.
func redactDSN(s string) string {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return kvPassword.ReplaceAllString(s, "${1}"+redactedPassword)
	}
	u, err := url.Parse(s)
	if err != nil {
		return urlPassword.ReplaceAllString(s, "${1}:"+redactedPassword+"@")
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redactedPassword)
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, redactedPassword)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// dsnValue is a flag holding a connection string that shows (in --help
// defaults) without its password.
type dsnValue string

func (v *dsnValue) String() string {
	if v == nil {
		return ""
	}
	return redactDSN(string(*v))
}

func (v *dsnValue) Set(s string) error {
	*v = dsnValue(s)
	return nil
}

// connectTimeoutSet reports whether the connection string (or libpq's
// environment) sets connect_timeout itself: that one wins over Causeway's
// default.
func connectTimeoutSet(dsn string) bool {
	return strings.Contains(dsn, "connect_timeout") || os.Getenv("PGCONNECT_TIMEOUT") != ""
}

// withConnectTimeout adds connect_timeout (whole seconds, rounded up) to a
// connection string that sets none, for the connections opened from a
// string rather than from the pool's parsed configuration.
func withConnectTimeout(dsn string, d time.Duration) string {
	if dsn == "" || connectTimeoutSet(dsn) {
		return dsn
	}
	secs := strconv.Itoa(int(math.Ceil(d.Seconds())))
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " connect_timeout=" + secs
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // ParseConfig will say what is wrong with it
	}
	q := u.Query()
	q.Set("connect_timeout", secs)
	u.RawQuery = q.Encode()
	return u.String()
}

// dbError wraps an error of reaching the database at dsn with the
// (password-free) connection string, and a hint when it timed out.
func dbError(dsn string, connect time.Duration, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("database %s: no answer (connect timeout %v: set connect_timeout in the URL or CAUSEWAY_CONNECT_TIMEOUT): %w",
			redactDSN(dsn), connect, err)
	}
	return fmt.Errorf("database %s: %w", redactDSN(dsn), err)
}
