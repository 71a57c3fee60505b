package reliability

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Summary is the outcome of a run. OK is false when any violation was
// found.
type Summary struct {
	OK          bool     `json:"ok"`
	Seed        int64    `json:"seed"`
	Database    string   `json:"database"`
	Notes       []string `json:"notes,omitempty"`
	Workers     int      `json:"workers"`
	FaultKinds  []string `json:"fault_kinds"`
	DurationS   float64  `json:"duration_s"` // faults and appends
	SettleS     float64  `json:"settle_s"`   // waiting for catch-up afterwards
	Settled     bool     `json:"settled"`
	Outstanding string   `json:"outstanding,omitempty"` // what had not settled

	Events          EventCounts    `json:"events"`
	Injected        map[string]int `json:"faults_injected"`
	OperatorActions map[string]int `json:"operator_actions"`
	Consumers       ConsumerCounts `json:"consumers"`

	Projection  ProjectionResult `json:"projection"`
	AtLeastOnce DeliveryResult   `json:"at_least_once"`
	Sagas       SagaResult       `json:"sagas"`

	Violations []Violation `json:"violations"`
	// LogDir holds the consumers' logs (kept when the run found violations).
	LogDir string `json:"log_dir,omitempty"`

	operatorOn bool
}

// EventCounts describe the workload.
type EventCounts struct {
	Appended     int64          `json:"appended"` // acknowledged appends' events
	InLog        int            `json:"in_log"`   // items and saga requests in the log afterwards
	Streams      int            `json:"streams"`
	RolledBack   int64          `json:"rolled_back"` // events appended in transactions rolled back on purpose
	AppendErrors int64          `json:"append_errors"`
	Poison       map[string]int `json:"poison"`
	Bursts       int64          `json:"bursts"`
}

// ConsumerCounts describe the consumer processes.
type ConsumerCounts struct {
	Started int `json:"started"`
	Died    int `json:"died_unexpectedly"`
}

// ViolationCount is the total of all violations.
func (s *Summary) ViolationCount() int {
	n := 0
	for _, v := range s.Violations {
		n += v.Count
	}
	return n
}

// WriteJSON prints the summary as one JSON object.
func (s *Summary) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	verdict := "OK: no violations"
	if !s.OK {
		verdict = fmt.Sprintf("FAILED: %d violations of %d kinds", s.ViolationCount(), len(s.Violations))
	}
	p("Causeway reliability run — %s", verdict)
	p("  seed %d, %s, up to %d consumer processes, faults: %s", s.Seed, s.Database, s.Workers, strings.Join(s.FaultKinds, ","))
	for _, n := range s.Notes {
		p("  note: %s", n)
	}
	settled := "settled"
	if !s.Settled {
		settled = "DID NOT SETTLE (" + s.Outstanding + ")"
	}
	p("  ran %.0fs, then %.1fs to settle: %s", s.DurationS, s.SettleS, settled)
	p("")
	e := s.Events
	p("Workload: %d events appended (%d in the log, %d streams, %d bursts), %d rolled back on purpose, %d failed appends",
		e.Appended, e.InLog, e.Streams, e.Bursts, e.RolledBack, e.AppendErrors)
	p("  poison events: %s", counts(e.Poison))
	p("Faults injected: %s", counts(s.Injected))
	p("Operator actions: %s", counts(s.OperatorActions))
	p("Consumer processes: %d started, %d died on their own", s.Consumers.Started, s.Consumers.Died)
	p("")
	pr := s.Projection
	p("Projection %s: %d items, %d to apply, %d rows; lost %d, duplicated %d; %d dead letters left, %d discarded",
		projName, pr.Events, pr.Expected, pr.Applied, pr.Lost, pr.Duplicates, pr.DeadLettered, pr.Discarded)
	a := s.AtLeastOnce
	p("At-least-once %s: %d items, %d to deliver, %d deliveries; lost %d, duplicates %d (%s); %d dead letters left, %d discarded",
		aloName, a.Events, a.Expected, a.Deliveries, a.Lost, a.Duplicates, counts(a.DuplicatesByCause), a.DeadLettered, a.Discarded)
	sg := s.Sagas
	p("Sagas %s: %d requested, %d instances (%s); %d operator-driven, %d awaiting an operator; %d step re-runs (%s); %d outcomes changed by outages",
		sagaName, sg.Requested, sg.Instances, counts(sg.ByStatus), sg.Operator, sg.AwaitingOperator, sg.StepReRuns,
		counts(sg.StepReRunsByCause), sg.Environmental)
	if len(s.Violations) > 0 {
		p("")
		p("Violations:")
		for _, v := range s.Violations {
			p("  %s: %d", v.Kind, v.Count)
			for _, ex := range v.Examples {
				p("    - %s", ex)
			}
		}
	}
	if s.LogDir != "" {
		p("")
		p("Consumer logs: %s", s.LogDir)
	}
}

// counts prints a map as "k=v, …" sorted by key.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
