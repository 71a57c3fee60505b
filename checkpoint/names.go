package checkpoint

import (
	"fmt"
	"regexp"
	"slices"
)

// MaxPartitions bounds a subscription's partition count.
const MaxPartitions = 4096

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,127}$`)

// ErrInvalidName is returned for a subscription name that is not 1–128
// characters of letters, digits and _ . : - starting with a letter.
var ErrInvalidName = fmt.Errorf("checkpoint: invalid subscription name")

// ValidateName checks a subscription name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q (want 1–128 letters, digits, _ . : -, starting with a letter)", ErrInvalidName, name)
	}
	return nil
}

func sortLeases(ls []Lease) {
	slices.SortFunc(ls, func(a, b Lease) int { return a.Partition - b.Partition })
}
