package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run executes the command tree on args, writing to stdout and stderr, and
// returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	rootCmd.InitDefaultCompletionCmd(args...) // Execute would add it, too late for the next line
	requireKnownSubcommands(rootCmd)
	rootCmd.SetArgs(args)
	rootCmd.SetOut(stdout)
	rootCmd.SetErr(stderr)
	if err := rootCmd.Execute(); err != nil {
		var quiet *quietFailure
		if !errors.As(err, &quiet) {
			fmt.Fprintln(stderr, "patchnet:", err)
		}
		return 1
	}
	return 0
}

// quietFailure is an error main exits 1 on without printing it: a command
// told to keep stderr clear (collect --quiet) said it where asked already.
type quietFailure struct{ err error }

func (q *quietFailure) Error() string { return q.err.Error() }
func (q *quietFailure) Unwrap() error { return q.err }
