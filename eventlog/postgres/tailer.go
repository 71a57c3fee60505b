package postgres

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// Tailer returns the store's tailer — one per store, so one per process when
// the process shares one store — starting it (and its LISTEN connection, when
// notifications are on) on first use. Close stops it.
func (s *Store) Tailer() *eventlog.Tailer {
	s.tailerOnce.Do(func() {
		logger := s.cfg.Tailer.Logger
		if logger == nil {
			logger = slog.Default()
		}
		t := eventlog.NewTailer(s.Head, s.cfg.Tailer)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		running := 1
		if !s.cfg.DisableNotify {
			running++
			go func() {
				defer func() { done <- struct{}{} }()
				listen(ctx, s.listenConn, s.channel, t.Wake, logger)
			}()
		}
		go func() {
			defer func() { done <- struct{}{} }()
			_ = t.Run(ctx)
		}()
		all := make(chan struct{})
		go func() {
			for range running {
				<-done
			}
			close(all)
		}()
		s.mu.Lock()
		s.tailer, s.tailerStop, s.tailerDone = t, cancel, all
		s.mu.Unlock()
	})
	return s.existingTailer()
}

// listenConn opens the LISTEN connection: from ListenURL when set, else a
// connection taken out of the pool for good (so it shares the pool's TLS and
// auth settings without counting against it afterwards).
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	if s.cfg.ListenURL != "" {
		return pgx.Connect(ctx, s.cfg.ListenURL)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return c.Hijack(), nil
}

func (s *Store) existingTailer() *eventlog.Tailer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tailer
}
