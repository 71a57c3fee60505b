// Package schedule runs cron jobs once per cluster: every process of an
// application runs a Scheduler, one of them is elected leader, and only the
// leader fires jobs. Each job's last run is kept in the schedules table, so
// a restart or a new leader carries on where the previous one stopped.
//
// # Leader election
//
// The leader is the process holding a session-level advisory lock,
// pg_try_advisory_lock(LeaderLockKey(schema)), on a dedicated connection
// made from the pool's configuration (so it never takes a pool slot, and
// never sits in a transaction: it holds no transaction id and so never holds
// the event log's horizon back). Followers try again every RetryInterval.
// The leader pings its connection every CheckInterval; when a ping fails the
// leadership is lost: the jobs' contexts are cancelled and the process goes
// back to competing.
//
// This was chosen over a lease row with an epoch (as the partitions table
// uses) because the server ties the lock to the session: when the leader
// dies — even by SIGKILL — the kernel closes its socket, the server ends the
// session and frees the lock at once, and a follower takes over within one
// RetryInterval instead of a lease TTL. Nothing has to be renewed, no clocks
// are compared, and pg_locks shows who leads (application_name "causeway
// scheduler MEMBER"). The costs: the lock connection must be a real session
// (not PgBouncer transaction pooling); and when the leader's host crashes or
// is cut off, the server frees the lock only when TCP keepalives declare the
// session dead — the lock connection asks for that within about 25 s — so
// failover is delayed then, never doubled: a leader cut off from the server
// stops at its first failed check, long before its lock is freed.
//
// # Durable state and exactly-once firing
//
// The schedules table holds, per job, last_run_at: the scheduled time (not
// the clock time) of the last run that was claimed. The leader computes the
// next occurrence after last_run_at (or after the row's created_at for a job
// that never ran). When that is in the future, it waits for it; when it is
// in the past — periods passed with no leader — the job fires once, stamped
// with the latest missed occurrence, rather than once per missed period.
// So a restart within a period does not re-run the period's run.
//
// Two leaders can overlap briefly: the server has freed the old leader's
// lock (its connection broke) before the old leader's next ping notices.
// So before running, the leader claims the run with a compare-and-set,
// UPDATE … SET last_run_at = $due WHERE last_run_at IS NOT DISTINCT FROM
// $prev, and runs only if it changed the row: one scheduled time runs at most
// once. A run cut short is not repeated — by a crash (its status stays
// "running") or by shutdown or loss of leadership ("cancelled"); the next
// scheduled time runs as usual. Jobs should be short, and idempotent per
// ScheduledAt where a lost run matters.
//
// A job runs with a context cancelled on shutdown and on loss of
// leadership. Its outcome — ok, failed (an error or a panic, which never
// crashes the process), or cancelled — its error, duration and an optional
// SetResult summary are written to the row afterwards. One job's runs never
// overlap: a run that outlasts its period is followed by one catch-up run.
//
// # Retention
//
// Each RetentionPolicy becomes a built-in job, "retention:CATEGORY", that
// has the event log apply it (eventlog/postgres's Store.ApplyRetention,
// with Config.Guards: see there for what is kept and how deletion is
// batched). The scheduler decides when and which policy; the statements
// over the events table are the event log's.
package schedule
