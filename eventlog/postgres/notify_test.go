package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
)

// otherProcess opens a second pool and store on the same schema, as another
// runner process would.
func otherProcess(t *testing.T, schema string, cfg postgres.Config) *postgres.Store {
	t.Helper()
	pool, err := pgxpool.New(testCtx(t), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	cfg.Schema = schema
	s, err := postgres.New(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// neverPoll makes a tailer that only polls when woken.
var neverPoll = eventlog.TailerOptions{MinInterval: time.Hour, MaxInterval: time.Hour}

func waitHead(t *testing.T, tl *eventlog.Tailer, want eventlog.Position, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for tl.Head().Before(want) {
		if time.Now().After(deadline) {
			t.Fatalf("tailer head %v did not reach %v within %v", tl.Head(), want, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestNotifyWakesAnotherProcess: with DisableNotify on the appender, this
// test fails (the second event is never seen).
func TestNotifyWakesAnotherProcess(t *testing.T) {
	a, pool := newStore(t, postgres.Config{})
	const app = "causeway-notify-test"
	b := otherProcess(t, a.Schema(), postgres.Config{Tailer: neverPoll, ListenURL: pgtest.WithAppName(t, pgtest.URL(t), app)})
	tl := b.Tailer()
	pgtest.ListenerPID(t, pool, app)
	// B polls once after its listener connects, then once an hour unless
	// notified. The first event may be seen by that poll; the second,
	// appended once the first was seen, only through the hint.
	for i := range 2 {
		e, _ := eventlog.NewEvent("Ping", i)
		res, err := a.Append(testCtx(t), "ping-1", eventlog.Any, e)
		if err != nil {
			t.Fatal(err)
		}
		waitHead(t, tl, res.Positions[0], 5*time.Second)
	}
}

func TestNotifyIsSentAfterCommit(t *testing.T) {
	s, _ := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{postgres.NotifyChannel(s.Schema())}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		e, _ := eventlog.NewEvent("Ping", i)
		res, err := s.Append(ctx, "ping-1", eventlog.Any, e)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("no notification for append %d: %v", i, err)
		}
		// The notification comes after the commit: the event is readable.
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+s.Schema()+`.events WHERE position = $1`, res.Positions[0].Seq).Scan(&n); err != nil || n != 1 {
			t.Fatalf("event of append %d not committed when its notification arrived (n=%d, err=%v)", i, n, err)
		}
	}
}

func TestNotifyCanBeDisabled(t *testing.T) {
	s, pool := newStore(t, postgres.Config{DisableNotify: true})
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{postgres.NotifyChannel(s.Schema())}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	e, _ := eventlog.NewEvent("Ping", 1)
	if _, err := s.Append(ctx, "ping-1", eventlog.Any, e); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = conn.WaitForNotification(wctx)
	cancel()
	if err == nil {
		t.Fatal("a store with notifications disabled sent one")
	}
	// Control: the same listener hears a store that has them on.
	on, err := postgres.New(pool, postgres.Config{Schema: s.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	if _, err := on.Append(ctx, "ping-1", eventlog.Any, e); err != nil {
		t.Fatal(err)
	}
	wctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := conn.WaitForNotification(wctx); err != nil {
		t.Fatalf("control store's notification not received: %v", err)
	}
	// With notifications off, the tailer still finds events by polling.
	tl := s.Tailer()
	res, err := s.Append(ctx, "ping-1", eventlog.Any, e)
	if err != nil {
		t.Fatal(err)
	}
	waitHead(t, tl, res.Positions[0], 5*time.Second)
}

// TestListenerRepollsAfterReconnect: notifications sent while the listener is
// disconnected are lost, so the tailer must poll after every reconnect.
func TestListenerRepollsAfterReconnect(t *testing.T) {
	a, pool := newStore(t, postgres.Config{DisableNotify: true}) // appends send no hint
	ctx := testCtx(t)
	const app = "causeway-listener-test"
	b := otherProcess(t, a.Schema(), postgres.Config{Tailer: neverPoll, ListenURL: pgtest.WithAppName(t, pgtest.URL(t), app)})
	tl := b.Tailer()

	first := pgtest.ListenerPID(t, pool, app)
	time.Sleep(200 * time.Millisecond) // let the post-connect poll finish

	e, _ := eventlog.NewEvent("Ping", 1)
	res, err := a.Append(ctx, "ping-1", eventlog.Any, e)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if !tl.Head().Before(res.Positions[0]) {
		t.Fatal("precondition: the tailer saw the event without a hint or a reconnect")
	}
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, first); err != nil {
		t.Fatal(err)
	}
	waitHead(t, tl, res.Positions[0], 5*time.Second)
	if second := pgtest.ListenerPID(t, pool, app); second == first {
		t.Fatal("listener did not reconnect")
	}
}

// TestNotifyLosesNoWakeUpUnderConcurrentAppends: the notification rides in
// append transactions when its window is open and is asked for by the
// others (see notifier). Another process that only reads when notified
// must still see every round of concurrent appends, the last included; a
// round whose last commits neither carried nor asked for a notification
// leaves that process behind until the deadline.
func TestNotifyLosesNoWakeUpUnderConcurrentAppends(t *testing.T) {
	a, pool := newStore(t, postgres.Config{NotifyWindow: 15 * time.Millisecond})
	const app = "causeway-notify-rounds"
	b := otherProcess(t, a.Schema(), postgres.Config{Tailer: neverPoll, ListenURL: pgtest.WithAppName(t, pgtest.URL(t), app)})
	tl := b.Tailer()
	pgtest.ListenerPID(t, pool, app)
	ctx := testCtx(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 15 {
		var (
			mu   sync.Mutex
			last eventlog.Position
			wg   sync.WaitGroup
		)
		writers := 1 + rng.IntN(16)
		for w := range writers {
			n, pause := 1+rng.IntN(4), time.Duration(rng.IntN(4000))*time.Microsecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					time.Sleep(pause)
					e, _ := eventlog.NewEvent("Ping", i)
					stream := fmt.Sprintf("r%d-w%d", round, w)
					res, err := a.Append(ctx, stream, eventlog.Any, e)
					if err != nil {
						t.Error(err)
						return
					}
					// A refused append (its transaction commits nothing)
					// rides along in some batches.
					if _, err := a.Append(ctx, stream, eventlog.NoStream, e); !errors.As(err, new(*eventlog.VersionConflictError)) {
						t.Errorf("append to an existing stream with NoStream: %v, want a version conflict", err)
					}
					mu.Lock()
					if last.Before(res.Positions[0]) {
						last = res.Positions[0]
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		waitHead(t, tl, last, 3*time.Second)
	}
}
