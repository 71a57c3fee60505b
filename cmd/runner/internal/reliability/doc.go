// Package reliability is Causeway's fault-injection harness: it runs the
// library the way a user does — projections, a plain at-least-once
// subscription and a saga, in several runner processes sharing consumer
// groups — against a real PostgreSQL, injects faults for a while, lets the
// system settle and then checks an oracle. `runner reliability` runs it
// (Command); TestShortRun is the short run in CI. docs/reliability.md
// describes the method and the results.
//
// # Shape
//
// The harness process appends the workload, injects the faults, plays the
// operator and finally judges; it never handles an event itself. The
// consumers are child processes: the running binary re-executed with an
// environment variable (MaybeRunChild must come first in main and in
// TestMain), each calling runtime.Run on the same App (newApp):
//
//   - projection rel_model (transactional) writes a row (stream, version,
//     sequence, member) per item into its read model;
//   - subscription rel_deliveries (at-least-once) records every delivery in
//     its own short transaction, so re-deliveries are rows too;
//   - saga rel_transfer (four steps, three compensations) records each
//     step's effect under its idempotency key, counting re-runs.
//
// Every recorded effect takes a number from one sequence, which orders
// them across processes. Children exit at once when the harness dies
// (their stdin closes), so nothing outlives a run.
//
// # Workload and faults
//
// Writers append items to their own streams with exact expected versions;
// a burster adds backlogs; a horizon holder keeps transactions open for
// seconds (some commit late, some roll back); a requester starts sagas.
// Items may carry poison (fails for good, fails N times, fails until the
// operator fixes it) or make handlers slow; saga plans make a step fail
// for good (compensation), a compensation fail until fixed (the saga
// fails and needs the operator), or a step fail a few times. Rolled-back
// appends carry a flag, so one seen in the log is caught.
//
// The injector, driven by the seed, SIGKILLs consumers, starts new ones,
// SIGTERMs them (graceful hand-over), crashes the postmaster (often right
// after rolled-back transactions with the workload paused, so that their
// transaction ids may be handed out again after recovery) or restarts it,
// and runs operator rounds: dead letters discarded (permanent poison),
// fixed and retried, or retried; failed sagas fixed and retried, resumed
// or cancelled; running sagas cancelled. Each backlog (the first one and
// each burst) brings a storm of leave/join cycles. One to Workers
// consumers are alive at all times.
//
// # Oracle
//
// After the run the harness stops the faults and the workload, keeps the
// consumers (at least one) until every subscription's lag is zero, every
// saga has finished and the operator has resolved the dead letters (or
// the settle timeout passes), stops them gracefully and checks:
//
//   - the projection equals a fold of the log: each committed item applied
//     exactly once and in per-stream version order, except those
//     discarded or dead-lettered (and everything after a stream's first
//     dead letter, which must be parked, not applied);
//   - the at-least-once subscription lost nothing (same exceptions), its
//     first deliveries are in per-stream order, and each re-delivery is
//     attributed to its cause from the timeline of faults: after a SIGKILL
//     or a PostgreSQL crash/restart it is allowed; after a graceful stop,
//     between live members or by the same member it is a violation;
//   - sagas: one instance per committed request and none for rolled-back
//     ones; each completed T1…Tn or ran T1…Tk-1 then C(k-1)…C1 (minus a
//     compensation the operator resumed past; a prefix of them when
//     cancelled while failed); no compensation of a step that did not
//     complete; no step recorded complete twice; step re-runs only after a
//     crash; none unfinished; each as its plan said unless the operator
//     stepped in or an outage failed a step;
//   - dead letters: each is a committed event, and none failed for a
//     reason the workload did not inject (an outage must be retried, not
//     dead-lettered).
//
// Violations are collected by kind with a few examples each.
package reliability
