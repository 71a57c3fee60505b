// Package cliflags parses command lines whose flags may come before,
// between and after the positional arguments (`replay NAME --no-catch-up`,
// `bench append --json`): the flag package alone stops at the first
// positional argument. The runtime's CLI and `runner bench` share it.
package cliflags

import "flag"

// Parse parses fs's flags anywhere in args and returns the positional
// arguments in order. A lone "--" ends flag parsing: everything after it is
// positional. Errors are fs.Parse's (flag.ErrHelp for -h and --help).
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
