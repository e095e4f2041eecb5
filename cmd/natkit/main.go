// Command natkit tests and diagnoses NAT traversal: STUN, TURN, ICE and
// WebRTC. Each command is thin: flags → a Config → one library call → a
// report.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// commandFactories is filled by init() in each command's file, so that adding
// a command never edits this file.
var commandFactories []func(a *app) *cobra.Command

func register(f func(a *app) *cobra.Command) { commandFactories = append(commandFactories, f) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes natkit with args and returns the exit code. Tests call it
// directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(ctx, err)
	if err != nil && !isSilent(err) {
		fmt.Fprintf(stderr, "natkit: %v\n", err)
	}
	return code
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "natkit",
		Short: "Test and diagnose NAT traversal: STUN, TURN, ICE and WebRTC",
		Long: `natkit tests and diagnoses NAT traversal. It checks that TURN credentials
yield relay candidates, classifies NAT behaviour, benchmarks relays, replays
two-peer calls across simulated NATs, and runs reference STUN/TURN and
signaling servers.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging()
		},
	}
	a.addLogFlags(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	for _, f := range commandFactories {
		root.AddCommand(f(a))
	}
	// Streams first: the completion command captures stdout when created.
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.InitDefaultCompletionCmd()
	markUsageErrors(root)
	return root
}

// markUsageErrors makes every argument error a usage error (exit 2): each
// command's Args validator is wrapped, and a group command (natkit, natkit
// report, …) given an unknown subcommand says so instead of cobra's plain
// error.
func markUsageErrors(c *cobra.Command) {
	switch {
	case c.HasSubCommands() && c.Run == nil && c.RunE == nil:
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageErrorf("unknown command %q for %q; see '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
	case c.Args != nil:
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError(err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}
