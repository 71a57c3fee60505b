package queue_test

import (
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
)

func TestDeclaration(t *testing.T) {
	d := queue.Declare("emails", queue.MaxAttempts(3), queue.Retention(time.Hour))
	if d.Err() != nil || d.Name() != "emails" || len(d.Options()) != 2 {
		t.Fatalf("valid declaration: name %q, %d options, err %v", d.Name(), len(d.Options()), d.Err())
	}
	want := queue.Config{Name: "emails", VisibilityTimeout: queue.DefaultVisibilityTimeout, MaxAttempts: 3, Retention: time.Hour}
	if d.Config() != want {
		t.Fatalf("config %+v, want %+v", d.Config(), want)
	}
	for name, bad := range map[string]queue.Declaration{
		"bad name":       queue.Declare("1 bad"),
		"no attempts":    queue.Declare("emails", queue.MaxAttempts(0)),
		"tiny visibilty": queue.Declare("emails", queue.VisibilityTimeout(time.Microsecond)),
	} {
		if !errors.Is(bad.Err(), queue.ErrInvalidMessage) {
			t.Errorf("%s: Err %v, want ErrInvalidMessage", name, bad.Err())
		}
	}
}
