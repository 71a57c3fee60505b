package checkpoint

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxPartitions bounds a subscription's partition count.
const MaxPartitions = 4096

// A subscription name is a base name, optionally followed by "#N": the
// subscription of build N of a versioned projection (see BuildName). Users
// name the base; the suffix is Causeway's.
var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,127}(#[1-9][0-9]{0,8})?$`)

// ErrInvalidName is returned for a subscription name that is not 1–128
// characters of letters, digits and _ . : - starting with a letter.
var ErrInvalidName = fmt.Errorf("checkpoint: invalid subscription name")

// ValidateName checks a subscription name: a base name, or a build's name
// (BuildName).
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q (want 1–128 letters, digits, _ . : -, starting with a letter)", ErrInvalidName, name)
	}
	return nil
}

// ValidateBaseName is ValidateName without the build suffix: the names
// users give projections, sagas and subscriptions.
func ValidateBaseName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if strings.Contains(name, "#") {
		return fmt.Errorf("%w %q (# is reserved for builds of a versioned projection)", ErrInvalidName, name)
	}
	return nil
}

// BuildName is the subscription name of build n of a versioned projection:
// "name#n". Each build is a consumer group of its own.
func BuildName(projection string, build int) string {
	return projection + "#" + strconv.Itoa(build)
}

// Lineage is the base name of a subscription: the projection's name for a
// build's subscription, the name itself otherwise. What outlives one build
// (an operator's discard of an event, say) is keyed by lineage.
func Lineage(sub string) string {
	if i := strings.LastIndexByte(sub, '#'); i > 0 {
		return sub[:i]
	}
	return sub
}

// ParseBuildName splits a build's subscription name; ok is false for a
// name without the build suffix.
func ParseBuildName(sub string) (projection string, build int, ok bool) {
	i := strings.LastIndexByte(sub, '#')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(sub[i+1:])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return sub[:i], n, true
}

func sortLeases(ls []Lease) {
	slices.SortFunc(ls, func(a, b Lease) int { return a.Partition - b.Partition })
}
