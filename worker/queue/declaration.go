package queue

import "slices"

// Declaration is a queue an application declares, as a value: runtime.App
// lists them, and the runtime declares each in the store (Store.Declare)
// at start and with `migrate`. Mistakes in it are reported by Err, not by
// Declare, so a list of declarations is written as plain values.
type Declaration struct {
	name string
	opts []Option
	err  error
}

// Declare returns a declaration of the queue name with opts (the stores'
// defaults for what opts leave out).
func Declare(name string, opts ...Option) Declaration {
	_, err := NewConfig(name, opts...)
	return Declaration{name: name, opts: slices.Clone(opts), err: err}
}

// Name is the queue's name.
func (d Declaration) Name() string { return d.name }

// Options are the options given to Declare, for Store.Declare.
func (d Declaration) Options() []Option { return slices.Clone(d.opts) }

// Err reports an invalid declaration (bad name or options): it matches
// ErrInvalidMessage, and nil means the declaration is valid.
func (d Declaration) Err() error { return d.err }

// Config is the configuration the declaration gives the queue (the zero
// Config when Err is not nil).
func (d Declaration) Config() Config {
	c, _ := NewConfig(d.name, d.opts...)
	return c
}
