package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/runtime/migrate"
)

// Deposited names its event type once; appends infer it.
type Deposited struct {
	Amount int `json:"amount"`
}

func (Deposited) EventType() string { return "Deposited" }

// Open the store on a migrated schema, append with an expected version,
// read the stream back and the log in global order.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	pool.Exec(ctx, `DROP SCHEMA IF EXISTS bank CASCADE`) // a fresh example each run
	if _, err := migrate.Apply(ctx, pool, "bank"); err != nil {
		fmt.Println(err)
		return
	}
	log, err := postgres.New(pool, postgres.Config{Schema: "bank"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()

	events, _ := eventlog.EncodeAll(Deposited{Amount: 20}, Deposited{Amount: 5})
	res, err := log.Append(ctx, "account-7", eventlog.NoStream, events...)
	fmt.Println(res.NextExpectedVersion, err)
	// A writer that had read version 1 lost the race.
	more, _ := eventlog.Encode(Deposited{Amount: 1})
	_, err = log.Append(ctx, "account-7", eventlog.Exactly(1), more)
	fmt.Println(errors.Is(err, eventlog.ErrWrongExpectedVersion))

	for e, err := range log.ReadStream(ctx, "account-7", eventlog.ReadStreamOptions{Direction: eventlog.Backwards}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Version, e.Type, string(e.Data))
	}
	total := 0
	for e, err := range log.ReadAll(ctx, eventlog.Start, eventlog.Filter{Categories: []string{"account"}}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		d, _ := eventlog.Decode[Deposited](e)
		total += d.Data.Amount
	}
	fmt.Println("total", total)
	// Output:
	// 2 <nil>
	// true
	// 2 Deposited {"amount": 5}
	// 1 Deposited {"amount": 20}
	// total 25
}
