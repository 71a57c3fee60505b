// Package migrations holds Causeway's one migration set (every table of every
// package, in one PostgreSQL schema, default "causeway") and applies it.
//
// Migrations are embedded SQL files named NNNN_name.sql, applied in order,
// each in its own transaction together with its row in the schema_migrations
// version table. Apply runs under a session advisory lock keyed by the schema
// name, so any number of processes may call it at start-up at once: one
// applies, the others wait and then find nothing to do. Migrations are
// forward-only; a database newer than the binary is refused.
package migrations
