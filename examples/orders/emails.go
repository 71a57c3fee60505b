package orders

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/worker/queue"
)

// EmailsQueue carries the customer emails the saga's steps ask for: a job
// to do once by any process, retried on its own, not a fact for every
// reader — a queue rather than a subscription of the log.
const EmailsQueue = "customer-emails"

// Email is one customer email to send (the EmailsQueue payload).
type Email struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Kind     string `json:"kind"` // "shipped" or "cancelled"
	Tracking string `json:"tracking,omitempty"`
}

// EmailsDeclaration declares EmailsQueue: a minute to send one email, eight
// deliveries before it is a dead letter.
func EmailsDeclaration() queue.Declaration {
	return queue.Declare(EmailsQueue, queue.VisibilityTimeout(time.Minute), queue.MaxAttempts(8))
}

// EmailSender returns the consumer that "sends" each email: it records it
// in the simulated mail provider's outbox, once per message id (a message
// can be delivered more than once, so the provider call is keyed by it).
func EmailSender(pool *pgxpool.Pool) queue.Consumer {
	return emailSender(&services{pool: pool, schema: Schema})
}

// emailSender is EmailSender on the services' pool (set once the runtime is
// open).
func emailSender(svc *services) queue.Consumer {
	return queue.NewConsumer(EmailsQueue, queue.Concurrency(4),
		queue.Handle(func(ctx context.Context, m queue.Envelope[Email]) error {
			_, err := svc.pool.Exec(ctx, `INSERT INTO `+Schema+`.emails_sent (message_id, order_id, customer, kind, tracking)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING`,
				m.ID, m.Data.OrderID, m.Data.Customer, m.Data.Kind, m.Data.Tracking)
			return err
		}))
}
