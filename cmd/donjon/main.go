// Command donjon runs WebAssembly applications in keeps: trusted execution
// environments that prove with hardware attestation what they run.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses of donjon itself; a guest's own exit code passes through.
const (
	exitTimeout = 124 // the wall-clock limit stopped the guest, as timeout(1)
	exitDonjon  = 125 // donjon failed before or around the guest, as docker run
	exitTrap    = 134 // the guest trapped, as a native program that aborts
)

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	msg  string // printed as "donjon: msg" unless empty
}

func (e *exitError) Error() string { return e.msg }

// app is what every command shares: where to write, how to log.
type app struct {
	stdin          *os.File
	stdout, stderr *os.File
	log            *slog.Logger
	verbose        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, a *app) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(a.stderr, "donjon:", ee.msg)
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.stderr, "donjon: interrupted")
		return 130
	}
	fmt.Fprintln(a.stderr, "donjon:", err)
	return exitDonjon
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "donjon",
		Short: "Run WebAssembly applications in attested, encrypted keeps",
		Long: `donjon runs WebAssembly (WASI preview 1) applications inside keeps: trusted
execution environments (AMD SEV-SNP, Intel TDX) that prove with hardware
attestation exactly what they run. The nil backend runs without any
protection, for development only.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelWarn
			if a.verbose {
				level = slog.LevelDebug
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log what donjon does, on stderr")
	root.AddCommand(a.runCommand(), a.platformCommand(), a.verifyCommand(), a.stewardCommand(), a.keepCommand())
	return root
}

// keepCommand is the hidden body of the process `donjon run` starts for
// each keep.
func (a *app) keepCommand() *cobra.Command {
	return &cobra.Command{
		Use:    keepSubcommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if code := keepChildMain(cmd.Context(), log); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
}
