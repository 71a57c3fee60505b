package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// liveReader is the rebuild scenario's reader: one goroutine querying the
// live read model at a steady rate while a side rebuilds, one point
// lookup of a random stream per read (through the side's pool, so a read
// also waits for a connection as an application's would). It keeps the
// rate without bursting: slots it fell behind on are skipped, so a reader
// slowed down shows as fewer reads per second as well as in latency.
type liveReader struct {
	cancel context.CancelFunc
	done   chan struct{}
	stats  ReaderStats
	lats   []time.Duration
}

// ReaderStats is what a liveReader saw.
type ReaderStats struct {
	Reads int64
	// Misses are reads of a stream that found no row (the live model is
	// complete, so there should be none).
	Misses   int64
	Err      error // the first failed read's error
	Duration time.Duration
	// P50, P99 and Max are the reads' durations, connection wait included.
	P50, P99, Max time.Duration
}

// PerSecond is the reads' rate.
func (s ReaderStats) PerSecond() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Reads) / s.Duration.Seconds()
}

func (s ReaderStats) String() string {
	return fmt.Sprintf("%d reads, %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d misses",
		s.Reads, s.PerSecond(), ms(s.P50), ms(s.P99), ms(s.Max), s.Misses)
}

// startLiveReader runs query ($1: a stream id "order-K", K below streams)
// rate times per second until stop.
func startLiveReader(pool *pgxpool.Pool, query string, streams int, rate float64) *liveReader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &liveReader{cancel: cancel, done: make(chan struct{})}
	interval := time.Duration(float64(time.Second) / rate)
	go func() {
		defer close(r.done)
		begin := time.Now()
		defer func() { r.stats.Duration = time.Since(begin) }()
		next := begin
		for {
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			if ctx.Err() != nil {
				return
			}
			stream := "order-" + strconv.Itoa(rand.IntN(max(streams, 1)))
			t0 := time.Now()
			var events, total int64
			err := pool.QueryRow(ctx, query, stream).Scan(&events, &total)
			lat := time.Since(t0)
			switch {
			case ctx.Err() != nil:
				return // stopped mid-read: not a read
			case err == nil || errors.Is(err, pgx.ErrNoRows):
				if err != nil {
					r.stats.Misses++
				}
				r.stats.Reads++
				r.lats = append(r.lats, lat)
			case r.stats.Err == nil:
				r.stats.Err = fmt.Errorf("bench: live read of %s: %w", stream, err)
			}
			next = next.Add(interval)
			if now := time.Now(); now.Sub(next) > interval {
				next = now // fell behind: skip the missed slots rather than burst
			}
		}
	}()
	return r
}

// stop stops the reader and returns what it saw.
func (r *liveReader) stop() ReaderStats {
	r.cancel()
	<-r.done
	s := r.stats
	s.P50, s.P99, s.Max = Percentile(r.lats, 50), Percentile(r.lats, 99), Percentile(r.lats, 100)
	return s
}
