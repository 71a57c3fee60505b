package saga

import "github.com/causewayhq/causeway/worker"

// RetryPolicy is how a step (or the saga's subscription) retries a failed
// attempt: worker.RetryPolicy, here so that a saga needs no other import.
type RetryPolicy = worker.RetryPolicy

// DefaultRetryPolicy is a step's retry policy unless Retry says otherwise.
var DefaultRetryPolicy = worker.DefaultRetryPolicy

// Permanent marks a step's error as one retrying cannot fix: the saga
// compensates at once (a compensation's permanent error fails the saga for
// an operator). Permanent(nil) is nil.
func Permanent(err error) error { return worker.Permanent(err) }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return worker.IsPermanent(err) }
