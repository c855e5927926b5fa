// Command go is donjon's Go test guest: one program whose first argument
// picks a check of the WASI preview 1 system it runs on. It is built with
// GOOS=wasip1 GOARCH=wasm, and also natively, so its checks can themselves
// be checked against Linux.
//
// Output protocol (shared with the C and Rust guests, see ../README.md):
// "ok CHECK" per passed check, "info ..." for values, "FAIL CHECK: why"
// then exit 1 on the first mismatch, and "done SUBCOMMAND" at the end of a
// check run. Usage errors exit 64.
package main

import (
	"fmt"
	"os"
	"strconv"
)

const usage = `usage: go SUBCOMMAND [ARGS]
  args              print argv as a JSON array
  env               print the environment, sorted, as a JSON array
  fs DIR [nolinks]  file and directory checks inside DIR (nolinks: links must be refused)
  escape DIR        try to leave DIR; "refused NAME" or "ESCAPED NAME"
  clock [UNIXSEC]   realtime (near UNIXSEC if given), monotonic, resolution
  random            two 64-byte random reads differ and are not all zero
  sleep MS          time.Sleep(MS), checks at least MS elapsed
  cat               copy stdin to stdout
  exit N            exit with code N
  trap              write to a nil map: a Go panic, exit code 2
  alloc-forever     allocate and touch 1 MiB blocks until stopped
  loop-forever      compute without host calls until stopped
  serve FD          accept one TCP connection on preopened socket FD, echo one line`

func main() {
	if len(os.Args) < 2 {
		usageExit()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "args":
		printJSON(os.Args)
	case "env":
		printEnv()
	case "fs":
		runFS(dirArg(args))
	case "escape":
		os.Exit(runEscape(dirArg(args)))
	case "clock":
		runClock(args)
	case "random":
		runRandom()
	case "sleep":
		runSleep(intArg(args, 0))
	case "cat":
		runCat()
	case "exit":
		os.Exit(intArg(args, 0))
	case "trap":
		runTrap()
	case "alloc-forever":
		allocForever()
	case "loop-forever":
		loopForever()
	case "serve":
		runServe(intArg(args, 0))
	default:
		usageExit()
	}
}

func usageExit() {
	fmt.Fprintln(os.Stderr, usage)
	os.Exit(64)
}

func dirArg(args []string) string {
	if len(args) < 1 {
		usageExit()
	}
	return args[0]
}

func intArg(args []string, i int) int {
	if len(args) <= i {
		usageExit()
	}
	n, err := strconv.Atoi(args[i])
	if err != nil {
		fmt.Fprintf(os.Stderr, "not an integer: %q\n", args[i])
		os.Exit(64)
	}
	return n
}

// ok reports a passed check.
func ok(check string) {
	fmt.Printf("ok %s\n", check)
}

// failf reports a failed check and ends the program: later checks depend on
// earlier ones, so going on would only add noise.
func failf(check, format string, a ...any) {
	fmt.Printf("FAIL %s: %s\n", check, fmt.Sprintf(format, a...))
	os.Exit(1)
}

// must fails check if err is not nil.
func must(check string, err error) {
	if err != nil {
		failf(check, "%v", err)
	}
}

func done(subcommand string) {
	fmt.Printf("done %s\n", subcommand)
}
