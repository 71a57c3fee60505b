package cli_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/causewayhq/causeway/runtime/cli"
)

// A program's own command beside Causeway's: its flags parsed with
// ParseFlags (flags may follow the arguments), usage mistakes reported as
// ErrUsage (exit code 2). runtime.Main and runtime.Execute give an App's
// commands to Execute this way, with the runtime's Settings for the
// database commands.
func ExampleExecute() {
	greet := cli.Command{Name: "greet", Summary: "greet a customer: greet NAME [--loud]",
		Run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("greet", flag.ContinueOnError)
			loud := fs.Bool("loud", false, "shout")
			names, err := cli.ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if len(names) != 1 {
				return fmt.Errorf("%w: want one NAME", cli.ErrUsage)
			}
			msg := "hello, " + names[0]
			if *loud {
				msg = strings.ToUpper(msg)
			}
			fmt.Println(msg)
			return nil
		}}
	shop := cli.Program{Name: "shop", Commands: []cli.Command{greet}}
	ctx := context.Background()

	code := cli.Execute(ctx, shop, []string{"greet", "ann", "--loud"}, os.Stdout, os.Stderr)
	fmt.Println("exit", code)

	var stderr bytes.Buffer
	code = cli.Execute(ctx, shop, []string{"greet"}, os.Stdout, &stderr)
	fmt.Print("exit ", code, ": ", stderr.String())

	var help bytes.Buffer
	cli.Execute(ctx, shop, []string{"help"}, &help, os.Stderr)
	for _, line := range strings.Split(help.String(), "\n") {
		if strings.Contains(line, "greet") {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	// Output:
	// HELLO, ANN
	// exit 0
	// exit 2: shop greet: want one NAME
	// greet     greet a customer: greet NAME [--loud]
}
