package bench

import (
	"context"
	"sync"
	"sync/atomic"
)

// parallel runs n operations on conc goroutines. Goroutine g calls op(ctx,
// g, i) for the operation numbers i it claims (0 <= i < n); the first error
// cancels the rest and is returned.
func parallel(parent context.Context, conc, n int, op func(ctx context.Context, g int, i int64) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for g := range conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				if err := op(ctx, g, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return parent.Err()
}
