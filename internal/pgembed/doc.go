// Package pgembed runs throwaway PostgreSQL servers from the machine's own
// PostgreSQL binaries, for tests and local development. It needs no Docker
// and downloads nothing.
//
// # Finding the server
//
// FindBinaries looks for initdb and postgres on PATH, then in
// `pg_config --bindir`, then in the newest /usr/lib/postgresql/*/bin (where
// Debian and Ubuntu install them off PATH). When none is found the error
// wraps ErrNoBinaries, whose message says how to install them.
//
// # Start-up
//
// initdb takes a second or two, so it runs once per machine, PostgreSQL
// major version and server uid: the result is cached as a template data
// directory in os.TempDir() (causeway-pgembed-template-<major>-<uid>),
// built under an exclusive flock so that the test binaries `go test` runs in
// parallel do not race, and marked complete by a marker file written last
// (an incomplete template is rebuilt). Each cluster gets a fresh directory
// causeway-pgembed-* under Options.BaseDir holding a copy of the template
// (data/), the server log (postgres.log), the Unix socket and an owner file.
//
// Start runs `postgres -D data -c ...` directly (not pg_ctl), so this
// process is the postmaster's parent, listening only on 127.0.0.1 with trust
// authentication for the superuser "postgres". Unless Options.Durable is
// set, fsync, synchronous_commit and full_page_writes are off. A free port
// is picked by binding port 0; if a parallel process takes it first, the
// server fails to bind and Start retries with another. Readiness means a
// pgx connection succeeds and reports our data directory. Start-up errors
// carry the tail of the server log.
//
// PostgreSQL refuses to run as root, so when this process is root, initdb
// and postgres run as the "postgres" OS user (SysProcAttr.Credential) and
// the cluster directory is chowned to it.
//
// # Never leaving servers behind
//
// Tests die in ways that skip clean-up: SIGKILL, or the panic of
// `go test -timeout`. Two mechanisms make sure no postmaster survives:
//
//   - On Linux the postmaster is started with Pdeathsig=SIGKILL, so the
//     kernel kills it when its parent dies. The kernel's "parent" is the OS
//     thread that forked it, so the fork happens on a dedicated goroutine
//     locked to its thread, which stays blocked in Wait for the server's
//     whole life (see process). The postmaster's children exit by
//     themselves when the postmaster dies.
//   - Every cluster directory records its owner (PID and process start
//     time). Each Start sweeps its BaseDir for causeway-pgembed-* directories
//     whose owner is dead, SIGKILLs the postmaster found in postmaster.pid if
//     it still runs, and removes the directory.
//
// A SIGKILLed postmaster also leaves shared memory behind. Dynamic shared
// memory is configured as files in the data directory
// (dynamic_shared_memory_type=mmap), so it goes with the directory; the small
// System V interlock segment recorded in postmaster.pid is removed (when no
// process is attached to it any more) by Close and by the sweep.
//
// # Lifecycle
//
// Stop shuts down in fast mode and keeps the data; Crash SIGKILLs the
// postmaster to simulate a crash; Restart starts the server again on the
// same port and data directory (recovering after a Crash); Close stops the
// server and deletes everything.
//
// The package supports Linux and other Unix systems (without Pdeathsig
// there, relying on the sweep).
package pgembed
