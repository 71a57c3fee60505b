package postgres

import (
	"context"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/groupcommit"
)

// BatchAppend is one append for AppendBatchForTest.
type BatchAppend struct {
	Stream   string
	Expected eventlog.ExpectedVersion
	Events   []eventlog.EventData
}

// AppendBatchForTest runs the given appends as one group-commit batch (the
// batch statements, without the group's picking or its fallback), so a test
// sees each append's own outcome, or the error of the batch as a whole.
func (s *Store) AppendBatchForTest(ctx context.Context, appends []BatchAppend) ([]eventlog.AppendResult, []error, error) {
	batch := make([]*groupReq, len(appends))
	for i, a := range appends {
		p, err := s.prepare(ctx, a.Stream, a.Expected, a.Events)
		if err != nil {
			return nil, nil, err
		}
		batch[i] = groupcommit.NewItem[*pendingAppend, eventlog.AppendResult](ctx, p)
	}
	outs, err := s.appendBatch(ctx, batch)
	if err != nil {
		return nil, nil, err
	}
	res, errs := make([]eventlog.AppendResult, len(outs)), make([]error, len(outs))
	for i, o := range outs {
		res[i], errs[i] = o.res, o.err
	}
	return res, errs, nil
}
