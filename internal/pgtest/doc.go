// Package pgtest gives every package's tests a real PostgreSQL server.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Main uses the server named by DATABASE_URL when that is set; otherwise it
// starts a throwaway embedded cluster (package pgembed) for the whole test
// binary and exports its URL as DATABASE_URL, so test processes re-executed
// by the tests reuse it. Without binaries and without DATABASE_URL, Main
// fails loudly with the install hint: tests never skip silently.
//
// Tests isolate themselves with NewSchema (a fresh schema and a pool whose
// search_path points at it) or NewDatabase (a fresh database), both removed
// in cleanup, so many tests and packages can run in parallel against one
// server. Tests that must stop, crash or restart PostgreSQL get a dedicated
// cluster from StartCluster.
package pgtest
