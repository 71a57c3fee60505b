package eventlog_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
)

// Events name their type once.
type (
	Deposited struct{ Amount int }
	Withdrawn struct{ Amount int }
)

func (Deposited) EventType() string { return "Deposited" }
func (Withdrawn) EventType() string { return "Withdrawn" }

type Account struct{ Balance int }

var ErrInsufficientFunds = errors.New("insufficient funds")

// A command decided from a stream: fold it, decide, append at the version
// read.
func ExampleFold_Decide() {
	ctx := context.Background()
	log := memory.New(memory.Options{})
	defer log.Close()

	account := eventlog.NewFold(
		eventlog.Evolve(func(a Account, e eventlog.Envelope[Deposited]) Account { a.Balance += e.Data.Amount; return a }),
		eventlog.Evolve(func(a Account, e eventlog.Envelope[Withdrawn]) Account { a.Balance -= e.Data.Amount; return a }),
	)
	withdraw := func(n int) func(context.Context, Account) ([]eventlog.Named, error) {
		return func(_ context.Context, a Account) ([]eventlog.Named, error) {
			if a.Balance < n {
				return nil, ErrInsufficientFunds
			}
			return []eventlog.Named{Withdrawn{Amount: n}}, nil
		}
	}

	deposit, _ := eventlog.Encode(Deposited{Amount: 50})
	log.Append(ctx, "account-7", eventlog.NoStream, deposit)

	res, err := account.Decide(ctx, log, "account-7", withdraw(30))
	fmt.Println(res.NextExpectedVersion, err)
	_, err = account.Decide(ctx, log, "account-7", withdraw(30))
	fmt.Println(err)
	got, _ := account.Load(ctx, log, "account-7")
	fmt.Println(got.State.Balance, got.Version)
	// Output:
	// 2 <nil>
	// insufficient funds
	// 20 2
}
