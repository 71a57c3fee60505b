package eventlog

import "strconv"

// ExpectedVersion is the optimistic-concurrency condition of an append.
// Use Any, NoStream, StreamExists or Exactly(n).
type ExpectedVersion int64

const (
	// Any appends whatever the stream's version.
	Any ExpectedVersion = -1
	// StreamExists requires the stream to have at least one event.
	StreamExists ExpectedVersion = -2
	// NoStream requires the stream to be empty (it is Exactly(0)).
	NoStream ExpectedVersion = 0
)

// Exactly requires the stream's current version to be n (0 = no stream).
func Exactly(n int64) ExpectedVersion { return ExpectedVersion(n) }

// Satisfied reports whether a stream at version current meets e.
func (e ExpectedVersion) Satisfied(current int64) bool {
	switch {
	case e == Any:
		return true
	case e == StreamExists:
		return current > 0
	default:
		return current == int64(e)
	}
}

// Valid reports whether e is one of the defined forms.
func (e ExpectedVersion) Valid() bool { return e >= StreamExists }

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case StreamExists:
		return "stream-exists"
	case NoStream:
		return "no-stream"
	}
	return strconv.FormatInt(int64(e), 10)
}
