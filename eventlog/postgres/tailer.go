package postgres

import (
	"context"
	"log/slog"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pglisten"
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
				pglisten.Run(ctx, pglisten.Config{
					Connect:   pglisten.Dialer(s.pool, s.cfg.ListenURL),
					Channel:   s.channel,
					OnConnect: t.Wake,
					OnNotify:  func(string) { t.Wake() },
					Logger:    logger,
				})
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

func (s *Store) existingTailer() *eventlog.Tailer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tailer
}
