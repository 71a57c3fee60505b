package checkpointtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// testMove: a move sets every partition to the position, fences the
// holders of leases, deletes only the dead letters after the position,
// leaves other subscriptions alone and is recorded.
func testMove(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	register(t, s, "m", 3)
	register(t, s, "other", 1)
	ls, err := s.Claim(ctx, "m", "w", 3, time.Minute)
	if err != nil || len(ls) != 3 {
		t.Fatalf("claim: %v, %v", ls, err)
	}
	others, _ := s.Claim(ctx, "other", "w", 1, time.Minute)
	pos := func(tx uint64) eventlog.Position { return eventlog.Position{TxID: tx, Seq: int64(tx)} }
	// Checkpoints 300, 100, 200; dead letters at 50 and 150 (partition
	// 0), 250 (partition 1) and, in the other subscription, 400.
	for i, at := range []uint64{300, 100, 200} {
		tx, _ := s.Begin(ctx)
		switch i {
		case 0:
			_ = tx.PutDeadLetter(ctx, deadLetter("m", 0, "a", 50))
			_ = tx.PutDeadLetter(ctx, deadLetter("m", 0, "a", 150))
		case 1:
			_ = tx.PutDeadLetter(ctx, deadLetter("m", 1, "b", 250))
		}
		if err := tx.Commit(ctx, ls[i], pos(at)); err != nil {
			t.Fatal(err)
		}
	}
	otx, _ := s.Begin(ctx)
	_ = otx.PutDeadLetter(ctx, deadLetter("other", 0, "c", 400))
	if err := otx.Commit(ctx, others[0], pos(500)); err != nil {
		t.Fatal(err)
	}

	to := pos(150) // the dead letter exactly at the position stays
	rec, err := s.Move(ctx, "m", checkpoint.MoveRequest{To: to, Target: "position", By: "ann@ops\x00"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID <= 0 || rec.Subscription != "m" || rec.FromMin != pos(100) || rec.FromMax != pos(300) || rec.To != to ||
		rec.Target != "position" || rec.RequestedBy != `ann@ops\0` || rec.RequestedAt.IsZero() || rec.DeadLettersDeleted != 1 {
		t.Fatalf("move record %+v", rec)
	}
	ps, _ := s.Partitions(ctx, "m")
	for _, p := range ps {
		if p.Checkpoint != to || p.Owner != "" || p.Epoch != 2 {
			t.Fatalf("after move: %+v", p)
		}
	}
	// Whoever held a lease is fenced: nothing of its unit of work lands.
	tx, _ := s.Begin(ctx)
	_ = tx.PutDeadLetter(ctx, deadLetter("m", 2, "d", 600))
	if err := tx.Commit(ctx, ls[2], pos(600)); !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("commit after move: %v", err)
	}
	if err := s.Commit(ctx, ls[0], pos(600)); !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("direct commit after move: %v", err)
	}
	// The next claim starts from the position.
	again, _ := s.Claim(ctx, "m", "w2", 3, time.Minute)
	if len(again) != 3 {
		t.Fatalf("claim after move: %v", again)
	}
	for _, l := range again {
		if l.Checkpoint != to || l.Epoch != 3 {
			t.Fatalf("lease after move: %+v", l)
		}
	}
	// Dead letters at or before the position stay; those after are gone.
	dls, _ := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "m"})
	var at []eventlog.Position
	for _, d := range dls {
		at = append(at, d.Position)
	}
	slices.SortFunc(at, eventlog.Position.Compare)
	if !slices.Equal(at, []eventlog.Position{pos(50), pos(150)}) {
		t.Fatalf("dead letters after move at %v, want 50 and 150", at)
	}
	// The other subscription is untouched.
	if ps, _ := s.Partitions(ctx, "other"); ps[0].Checkpoint != pos(500) || ps[0].Owner != "w" {
		t.Fatalf("other subscription changed: %+v", ps[0])
	}
	if n, _ := s.CountDeadLetters(ctx, "other"); n != 1 {
		t.Fatalf("other subscription has %d dead letters", n)
	}

	// Moving to the start deletes the rest; every move is listed, newest
	// first.
	rec2, err := s.Move(ctx, "m", checkpoint.MoveRequest{To: eventlog.Start, Target: "start", By: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if rec2.ID <= rec.ID || rec2.FromMin != to || rec2.FromMax != to || rec2.DeadLettersDeleted != 2 {
		t.Fatalf("second move %+v", rec2)
	}
	rec3, err := s.Move(ctx, "other", checkpoint.MoveRequest{To: pos(450), Target: "end", By: "cy"})
	if err != nil {
		t.Fatal(err)
	}
	moves, err := s.Moves(ctx, "m", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 2 || moves[0].ID != rec2.ID || moves[1].ID != rec.ID {
		t.Fatalf("moves of m: %+v", moves)
	}
	if got := moves[1]; got.To != rec.To || got.FromMin != rec.FromMin || got.FromMax != rec.FromMax || got.Target != rec.Target ||
		got.RequestedBy != rec.RequestedBy || got.DeadLettersDeleted != rec.DeadLettersDeleted || !got.RequestedAt.Equal(rec.RequestedAt) {
		t.Fatalf("listed %+v, recorded %+v", got, rec)
	}
	if all, _ := s.Moves(ctx, "", 0); len(all) != 3 || all[0].ID != rec3.ID {
		t.Fatalf("all moves: %+v", all)
	}
	if one, _ := s.Moves(ctx, "", 1); len(one) != 1 || one[0].ID != rec3.ID {
		t.Fatalf("moves limited to 1: %+v", one)
	}
	if none, err := s.Moves(ctx, "nope", 0); err != nil || len(none) != 0 {
		t.Fatalf("moves of an unknown subscription: %v, %v", none, err)
	}
	if _, err := s.Move(ctx, "nope", checkpoint.MoveRequest{Target: "start", By: "x"}); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("move unknown: %v", err)
	}
}
