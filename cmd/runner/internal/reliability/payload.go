package reliability

import (
	"math/rand/v2"
)

// Event types and stream categories of the workload.
const (
	itemType     = "Item"          // appended to "rel-…" streams; projection and at-least-once
	sagaType     = "SagaRequested" // appended to "req-…" streams; starts a saga
	itemCategory = "rel"
	sagaCategory = "req"
)

// Poison kinds an item can carry.
const (
	poisonPermanent = "permanent" // fails for good: dead-lettered, the operator discards it
	poisonFlaky     = "flaky"     // fails Fail times in a process, then succeeds
	poisonFixable   = "fixable"   // fails until the operator fixes it, then retries it
)

// Prefixes of the errors handlers return on purpose; anything else in a
// dead letter or a saga's last error came from the system under test.
const (
	errInjected      = "injected: "
	errPermanentText = errInjected + "permanent poison"
	errFixableText   = errInjected + "fixable poison, not fixed yet"
	errFlakyText     = errInjected + "flaky"
	errStepFailText  = errInjected + "step fails for this input"
	errCompFailText  = errInjected + "compensation fails until fixed"
)

// EventType names item's event type.
func (item) EventType() string { return itemType }

// item is the data of an Item event.
type item struct {
	N      int64  `json:"n"` // the writer's counter, for humans reading logs
	Poison string `json:"poison,omitempty"`
	Fail   int    `json:"fail,omitempty"`    // flaky: failures before success
	SlowMs int    `json:"slow_ms,omitempty"` // handlers sleep this long
	// RolledBack marks an event appended in a transaction that rolls back
	// on purpose: none may ever be seen.
	RolledBack bool `json:"rb,omitempty"`
}

// newItem draws an item: mostly plain, some poison and some slow.
func newItem(rng *rand.Rand, n int64, poison bool) item {
	it := item{N: n}
	if poison {
		switch x := rng.Float64(); {
		case x < 0.0015:
			it.Poison = poisonPermanent
		case x < 0.003:
			it.Poison = poisonFixable
		case x < 0.013:
			it.Poison, it.Fail = poisonFlaky, 1+rng.IntN(2)
		}
	}
	// Slow handlers make batches end on their time bound in the middle of
	// what the reader handed over, and make catch-up last long enough for
	// members to come and go during it.
	if rng.Float64() < 0.04 {
		it.SlowMs = 10 + rng.IntN(50)
	}
	return it
}

// sagaSteps are the saga's steps, in order; the last has no compensation.
var sagaSteps = []string{"reserve", "charge", "ship", "notify"}

// plan is the data of a SagaRequested event: how its saga will behave.
// Steps are numbered from 1.
type plan struct {
	FailAt    int `json:"fail_at,omitempty"`    // this action fails for good: compensate the ones before
	CompFail  int `json:"comp_fail,omitempty"`  // this compensation fails until an operator fixes it
	FlakyStep int `json:"flaky_step,omitempty"` // this action fails FlakyN times, then succeeds
	FlakyN    int `json:"flaky_n,omitempty"`
	SlowMs    int `json:"slow_ms,omitempty"` // every step sleeps this long
	// RolledBack: appended in a transaction that rolls back on purpose.
	RolledBack bool `json:"rb,omitempty"`
}

// newPlan draws a saga plan: most complete, some compensate, some need an
// operator.
func newPlan(rng *rand.Rand, poison bool) plan {
	var p plan
	if rng.Float64() < 0.35 {
		p.FailAt = 2 + rng.IntN(len(sagaSteps)-1) // 2..4: something to compensate
	}
	if poison && p.FailAt > 1 && rng.Float64() < 0.3 {
		p.CompFail = 1 + rng.IntN(p.FailAt-1)
	}
	if rng.Float64() < 0.25 {
		p.FlakyStep, p.FlakyN = 1+rng.IntN(len(sagaSteps)), 1+rng.IntN(3)
	}
	if rng.Float64() < 0.2 {
		p.SlowMs = 10 + rng.IntN(100)
	}
	return p
}
