package migrate_test

import (
	"fmt"
	"strings"

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
