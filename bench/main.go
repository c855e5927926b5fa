// Command bench measures what running a program under donjon costs, as
// ratios against the same program run natively in the same session: the
// slowdown of compute-bound C and Go guests, the start-up time of a
// hello world, cold and from the compiled-code cache, the steward's
// throughput and latency issuing certificates for SNP and TDX keeps, an
// HTTPS server in a keep against the same server built natively, and file
// I/O in a sealed directory against a plain one, both in a keep.
//
// Every figure is a ratio to a baseline measured in the same run, with
// the runs of the things compared interleaved, the median of several
// repetitions reported and their spread printed next to it: absolute times
// on a shared machine say little, ratios measured side by side say more.
// It is also a correctness check: a guest whose output differs from the
// native program's for the same input stops the benchmark with an error.
//
// Usage (from the repository root; `make bench` builds donjon first):
//
//	go run ./bench [-donjon build/donjon] [-quick] [-reps N] [-startup-reps N]
//	               [-steward-requests N] [-steward-clients N] [-steward-time D]
//	               [-https-runs N] [-https-time D] [-https-conns N]
//	               [-storage-size MiB] [-storage-ops N] [-storage-reps N] [-only SECTIONS]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// options say what to measure and how often.
type options struct {
	Donjon      string        // the donjon binary to measure
	Quick       bool          // small sizes and few repetitions: a smoke run
	Reps        int           // timed repetitions of each compute pair
	StartupReps int           // timed repetitions of each start-up set
	ShaMB       int           // megabytes hashed by the sha256 workload
	SieveN      int           // the prime sieve's upper bound
	MatmulN     int           // the matrices' side
	RunTimeout  time.Duration // the most one run may take
	WorkDir     string        // where guests and caches go; empty: a temporary directory
	Log         *slog.Logger  // progress, on stderr

	StewardRequests int           // certificate requests per platform and measure
	StewardClients  int           // concurrent steward clients
	StewardTime     time.Duration // no new steward round starts after this

	HTTPSRuns  int           // paired keep/native runs of the HTTPS section
	HTTPSTime  time.Duration // how long each HTTPS measure loads one server
	HTTPSConns int           // concurrent connections of the HTTPS load generator

	StorageMiB  int // the storage guest's file size, in MiB
	StorageOps  int // operations of each random storage phase
	StorageReps int // storage runs, each of the sealed and the plain directory

	Only []string // the sections to run; empty: all of them
}

// sections are the report's sections, in the order they run.
var sections = []string{"compute", "startup", "steward", "https", "storage"}

// runs says whether the section named is to run.
func (o *options) runs(section string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, section)
}

// Default sizes keep `make bench` under about ten minutes on two cores.
const (
	defaultShaMB   = 100
	defaultSieveN  = 50_000_000
	defaultMatmulN = 800

	quickShaMB   = 1
	quickSieveN  = 100_000
	quickMatmulN = 24

	defaultStewardRequests = 2000
	quickStewardRequests   = 20

	defaultHTTPSTime = 5 * time.Second
	quickHTTPSTime   = 300 * time.Millisecond
	// maxHTTPSConns stays below what a keep lets wait for accept or for a
	// handshake (tlsnet.DefaultMaxPending, 128): beyond, it drops
	// connections, and the new-connection measure would count errors.
	maxHTTPSConns = 100

	// maxStorageMiB keeps the storage guest's tables of blocks (8 bytes a
	// block, one table per directory) well inside a keep's default 1 GiB
	// of memory.
	maxStorageMiB = 64 << 10
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Donjon, "donjon", "build/donjon", "the donjon binary to measure (make build makes build/donjon)")
	fs.BoolVar(&o.Quick, "quick", false, "a fast smoke run: small sizes, two repetitions; its figures mean little")
	fs.IntVar(&o.Reps, "reps", 0, "timed repetitions of each compute benchmark (default 7, or 2 with -quick)")
	fs.IntVar(&o.StartupReps, "startup-reps", 0, "timed repetitions of each start-up measurement (default 15, or 2 with -quick)")
	fs.IntVar(&o.ShaMB, "sha-mb", 0, fmt.Sprintf("megabytes for sha256 (default %d, or %d with -quick)", defaultShaMB, quickShaMB))
	fs.IntVar(&o.SieveN, "sieve-n", 0, fmt.Sprintf("upper bound of the prime sieve (default %d, or %d with -quick)", defaultSieveN, quickSieveN))
	fs.IntVar(&o.MatmulN, "matmul-n", 0, fmt.Sprintf("side of the matrices multiplied (default %d, or %d with -quick)", defaultMatmulN, quickMatmulN))
	fs.IntVar(&o.StewardRequests, "steward-requests", 0, fmt.Sprintf("certificate requests per platform (SNP, TDX) for each steward measure, each from its own keep (default %d, or %d with -quick)", defaultStewardRequests, quickStewardRequests))
	fs.IntVar(&o.StewardClients, "steward-clients", 0, "concurrent steward clients (default GOMAXPROCS)")
	fs.DurationVar(&o.StewardTime, "steward-time", 40*time.Second, "after this, the steward section starts no new round (it runs two at least): a bound for busy machines")
	fs.IntVar(&o.HTTPSRuns, "https-runs", 0, "paired keep/native runs of each HTTPS measure; the report gives their medians (default 3, or 1 with -quick)")
	fs.DurationVar(&o.HTTPSTime, "https-time", 0, fmt.Sprintf("how long each HTTPS measure loads each server in each run (default %v, or %v with -quick)", defaultHTTPSTime, quickHTTPSTime))
	fs.IntVar(&o.HTTPSConns, "https-conns", 16, fmt.Sprintf("concurrent connections of the HTTPS load generator (at most %d)", maxHTTPSConns))
	fs.IntVar(&o.StorageMiB, "storage-size", 0, fmt.Sprintf("size in MiB of the file the storage guest writes and reads (default %d, or %d with -quick)", defaultStorageMiB, quickStorageMiB))
	fs.IntVar(&o.StorageOps, "storage-ops", 0, "4 KiB operations of each random storage phase (default: as many as the file has blocks)")
	fs.IntVar(&o.StorageReps, "storage-reps", 0, "storage runs, each measuring the sealed and the plain directory side by side (default 9, or 2 with -quick)")
	only := fs.String("only", "", "run only these sections, comma-separated: "+strings.Join(sections, ", ")+" (default: all)")
	fs.DurationVar(&o.RunTimeout, "run-timeout", 3*time.Minute, "the most any one run may take")
	fs.StringVar(&o.WorkDir, "work", "", "directory for donjon's compiled-code caches (default: a temporary directory, removed at the end); guests are built into the shared test-guest cache")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q: bench takes flags only", fs.Args())
		fmt.Fprintln(stderr, err)
		return o, err
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	o.fillDefaults()
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return o, err
	}
	return o, nil
}

func (o *options) fillDefaults() {
	pick := func(v *int, normal, quick int) {
		if *v == 0 {
			*v = normal
			if o.Quick {
				*v = quick
			}
		}
	}
	pick(&o.Reps, 7, 2)
	pick(&o.StartupReps, 15, 2)
	pick(&o.ShaMB, defaultShaMB, quickShaMB)
	pick(&o.SieveN, defaultSieveN, quickSieveN)
	pick(&o.MatmulN, defaultMatmulN, quickMatmulN)
	pick(&o.StewardRequests, defaultStewardRequests, quickStewardRequests)
	pick(&o.HTTPSRuns, 3, 1)
	pick(&o.StorageMiB, defaultStorageMiB, quickStorageMiB)
	pick(&o.StorageReps, 9, 2)
	if o.StorageOps == 0 && o.StorageMiB > 0 {
		o.StorageOps = o.StorageMiB << 20 / storageBlock
	}
	if o.HTTPSTime == 0 {
		o.HTTPSTime = defaultHTTPSTime
		if o.Quick {
			o.HTTPSTime = quickHTTPSTime
		}
	}
	if o.StewardClients == 0 {
		o.StewardClients = runtime.GOMAXPROCS(0)
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 3 * time.Minute
	}
}

func (o *options) validate() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"-reps", o.Reps}, {"-startup-reps", o.StartupReps}, {"-sha-mb", o.ShaMB}, {"-sieve-n", o.SieveN}, {"-matmul-n", o.MatmulN},
		{"-steward-requests", o.StewardRequests}, {"-steward-clients", o.StewardClients},
		{"-https-runs", o.HTTPSRuns}, {"-https-conns", o.HTTPSConns},
		{"-storage-size", o.StorageMiB}, {"-storage-ops", o.StorageOps}, {"-storage-reps", o.StorageReps}} {
		if c.v < 1 {
			return fmt.Errorf("%s must be at least 1", c.name)
		}
	}
	if o.RunTimeout < 0 {
		return fmt.Errorf("-run-timeout must be positive")
	}
	if o.StewardTime < 0 {
		return fmt.Errorf("-steward-time must be positive")
	}
	if o.HTTPSTime < 0 {
		return fmt.Errorf("-https-time must be positive")
	}
	if o.StorageMiB > maxStorageMiB {
		return fmt.Errorf("-storage-size %d is too large: give at most %d (MiB)", o.StorageMiB, maxStorageMiB)
	}
	if o.HTTPSConns > maxHTTPSConns {
		return fmt.Errorf("-https-conns %d is too many: a keep drops connections beyond 128 waiting ones; give at most %d", o.HTTPSConns, maxHTTPSConns)
	}
	for _, s := range o.Only {
		if !slices.Contains(sections, s) {
			return fmt.Errorf("-only: no section %q; choose among %s, separated by commas", s, strings.Join(sections, ", "))
		}
	}
	return nil
}
