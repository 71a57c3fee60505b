package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts 5 fields, 6 with seconds first, and descriptors
// ("@hourly", "@every 1m30s").
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a cron expression the way the scheduler does.
func Parse(spec string) (cron.Schedule, error) {
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule: cron expression %q: %w", spec, err)
	}
	return s, nil
}

// maxCatchUpSteps bounds the walk over missed occurrences of a spec
// schedule; past it the catch-up run is stamped with the current second.
const maxCatchUpSteps = 100_000

// nextDue returns the scheduled time the job should fire next, given the
// scheduled time of its last run (or, for a job that never ran, the time its
// state row was created): the first occurrence after anchor when that is
// still ahead, otherwise the latest occurrence at or before now — so however
// many periods passed without a leader, the job catches up with one run,
// not one per missed period. The zero time means "never again".
func nextDue(s cron.Schedule, anchor, now time.Time, loc *time.Location) time.Time {
	anchor, now = anchor.In(loc), now.In(loc)
	next := s.Next(anchor)
	if next.IsZero() || next.After(now) {
		return next
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok && d.Delay > 0 {
		// "@every" keeps its grid: first missed + k whole delays.
		k := now.Sub(next) / d.Delay
		return next.Add(k * d.Delay)
	}
	for range maxCatchUpSteps {
		after := s.Next(next)
		if after.IsZero() || after.After(now) {
			return next
		}
		next = after
	}
	return now.Truncate(time.Second)
}
