package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/runtime"
)

// silentServer accepts TCP connections and never answers: a database
// host that is up while PostgreSQL on it is stuck (or a wrong port that
// some other program holds). It returns the address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// executeWithin runs a command line that must end within d.
func executeWithin(t *testing.T, d time.Duration, app runtime.App, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- runtime.Execute(ctx, app, args, &out, &errOut) }()
	select {
	case code := <-done:
		return code, out.String(), errOut.String()
	case <-time.After(d):
		cancel()
		<-done
		t.Fatalf("%v still running after %v (stdout %q, stderr %q)", args, d, out.String(), errOut.String())
		return 0, "", ""
	}
}

// TestUnansweringDatabaseFailsFast: a database that accepts connections
// and never answers fails `status` and Run within the connect timeout
// (the default's override in the environment, or connect_timeout in the
// URL), with an error that names the address and not the password.
func TestUnansweringDatabaseFailsFast(t *testing.T) {
	addr := silentServer(t)
	url := fmt.Sprintf("postgres://alice:s3cret-pw@%s/app", addr)
	app := cliApp("public")
	check := func(what, msg string) {
		t.Helper()
		if !strings.Contains(msg, addr) || strings.Contains(msg, "s3cret-pw") || !strings.Contains(msg, "timeout") {
			t.Errorf("%s: error %q; want the address %s and the timeout, without the password", what, msg, addr)
		}
	}

	t.Run("status, timeout from the environment", func(t *testing.T) {
		t.Setenv("DATABASE_URL", url)
		t.Setenv("CAUSEWAY_CONNECT_TIMEOUT", "1s")
		code, _, errOut := executeWithin(t, 10*time.Second, app, "status")
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Fatalf("status: exit %d, stderr %q; want 1 and one line", code, errOut)
		}
		check("status", errOut)
	})
	t.Run("status, connect_timeout in the URL", func(t *testing.T) {
		t.Setenv("DATABASE_URL", url+"?connect_timeout=1")
		code, _, errOut := executeWithin(t, 10*time.Second, app, "dlq", "list")
		if code != 1 {
			t.Fatalf("dlq list: exit %d, stderr %q; want 1", code, errOut)
		}
		check("dlq list", errOut)
	})
	t.Run("Open and Run", func(t *testing.T) {
		t.Setenv("CAUSEWAY_CONNECT_TIMEOUT", "1s")
		cfg, err := runtime.ConfigFromEnv()
		if err != nil {
			t.Fatal(err)
		}
		cfg.DatabaseURL, cfg.HTTPAddr, cfg.LogLevel = url, "off", "error"
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			r, err := runtime.Open(ctx, app, cfg)
			if err != nil {
				done <- err
				return
			}
			defer r.Close()
			done <- r.Run(ctx)
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Open and Run succeeded against a silent server")
			}
			check("Open/Run", err.Error())
		case <-time.After(10 * time.Second):
			cancel()
			<-done
			t.Fatal("Open and Run still waiting for a silent database after 10s")
		}
	})
}
