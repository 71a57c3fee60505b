package queue

import (
	"fmt"
	"time"
)

// Defaults of a declared queue.
const (
	DefaultVisibilityTimeout = 30 * time.Second
	DefaultMaxAttempts       = 5
	// DefaultDedupWindow is the window of a deduplication key given
	// without one.
	DefaultDedupWindow = time.Hour
	// MaxPayload limits one message's payload plus headers in bytes.
	MaxPayload = 1 << 20
)

// Config is a queue's declared configuration.
type Config struct {
	Name              string
	VisibilityTimeout time.Duration
	// MaxAttempts is the number of deliveries after which a failed message
	// (nacked, or whose visibility ran out) goes to the dead letters.
	MaxAttempts int
	// Retention is how long acked messages are kept (0: deleted on ack).
	// Kept ones are removed by the store's Purge.
	Retention time.Duration
}

// Option sets part of a queue's configuration at Declare.
type Option func(*Config)

// VisibilityTimeout sets the default visibility of a delivery.
func VisibilityTimeout(d time.Duration) Option { return func(c *Config) { c.VisibilityTimeout = d } }

// MaxAttempts sets the number of deliveries before a message is dead.
func MaxAttempts(n int) Option { return func(c *Config) { c.MaxAttempts = n } }

// Retention keeps acked messages for d instead of deleting them on ack.
func Retention(d time.Duration) Option { return func(c *Config) { c.Retention = d } }

// NewConfig applies opts to the defaults and validates the result. Stores
// call it from Declare.
func NewConfig(name string, opts ...Option) (Config, error) {
	c := Config{Name: name, VisibilityTimeout: DefaultVisibilityTimeout, MaxAttempts: DefaultMaxAttempts}
	for _, o := range opts {
		o(&c)
	}
	if err := ValidateName(name); err != nil {
		return Config{}, err
	}
	switch {
	case c.VisibilityTimeout < time.Millisecond:
		return Config{}, fmt.Errorf("%w: queue %q: visibility timeout %v is under 1ms", ErrInvalidMessage, name, c.VisibilityTimeout)
	case c.MaxAttempts < 1:
		return Config{}, fmt.Errorf("%w: queue %q: max attempts must be at least 1, got %d", ErrInvalidMessage, name, c.MaxAttempts)
	case c.Retention < 0:
		return Config{}, fmt.Errorf("%w: queue %q: negative retention", ErrInvalidMessage, name)
	}
	return c, nil
}
