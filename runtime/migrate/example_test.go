package migrate_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/runtime/migrate"
)

// Migrating with a tool of one's own: write each migration's script to a
// file of its name, in order (here, print the names and the last line of
// each script, which records it for Apply).
func ExampleAll() {
	all, err := migrate.All("causeway")
	if err != nil {
		panic(err)
	}
	for _, m := range all[:2] {
		lines := strings.Split(strings.TrimSpace(m.SQL), "\n")
		fmt.Println(m.FileName(), "ends", lines[len(lines)-1])
	}
	// Output:
	// 0001_eventlog.sql ends INSERT INTO "causeway".schema_migrations (version, name) VALUES (1, 'eventlog');
	// 0002_subscriptions.sql ends INSERT INTO "causeway".schema_migrations (version, name) VALUES (2, 'subscriptions');
}

// Migrating from a program without a runtime: Apply is safe to call from
// every process at start (one applies, the others wait and find nothing to
// do), and Status says what a database has.
func ExampleApply() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	pool.Exec(ctx, `DROP SCHEMA IF EXISTS billing CASCADE`) // a fresh example each run

	_, pending, _ := migrate.Status(ctx, pool, "billing")
	fmt.Println("pending before:", pending[0].FileName(), "…")
	if _, err := migrate.Apply(ctx, pool, "billing"); err != nil {
		panic(err)
	}
	again, _ := migrate.Apply(ctx, pool, "billing")
	applied, pending, _ := migrate.Status(ctx, pool, "billing")
	fmt.Println("applied again:", len(again))
	fmt.Println("first applied:", applied[0].Name, !applied[0].AppliedAt.IsZero())
	fmt.Println("pending after:", len(pending))
	// Output:
	// pending before: 0001_eventlog.sql …
	// applied again: 0
	// first applied: eventlog true
	// pending after: 0
}
