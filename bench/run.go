package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"donjon.dev/internal/testguest"
)

// run builds the guests, measures, and writes the report to w.
func run(ctx context.Context, o options, w io.Writer) error {
	donjon, err := filepath.Abs(o.Donjon)
	if err != nil {
		return fmt.Errorf("-donjon %s: %w", o.Donjon, err)
	}
	if st, err := os.Stat(donjon); err != nil || st.IsDir() {
		return fmt.Errorf("no donjon binary at %s: run `make build` first, or pass -donjon PATH", o.Donjon)
	}
	o.Donjon = donjon

	work := o.WorkDir
	if work == "" {
		work, err = os.MkdirTemp("", "donjon-bench-")
		if err != nil {
			return fmt.Errorf("work directory: %w", err)
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}

	// Guests go to the shared test-guest cache, so a second `make bench`
	// (or `make test`) does not compile them again.
	guestDir, err := testguest.CacheDir()
	if err != nil {
		return err
	}
	var guests guestSet
	if o.runs("compute") || o.runs("startup") {
		o.Log.Info("building guests, wasm and native", "dir", guestDir)
		if guests, err = buildGuests(ctx, guestDir); err != nil {
			return err
		}
	}

	if err := writeHeader(ctx, o, w); err != nil {
		return err
	}
	checked := 0 // donjon runs whose output was compared with the native program's
	if o.runs("compute") {
		compute, err := runCompute(ctx, o, guests.Compute, filepath.Join(work, "cache"))
		if err != nil {
			return err
		}
		if err := compute.write(w); err != nil {
			return err
		}
		checked += compute.runs
	}
	if o.runs("startup") {
		startup, err := runStartup(ctx, o, guests.Hello, work)
		if err != nil {
			return err
		}
		if err := startup.write(w); err != nil {
			return err
		}
		checked += startup.runs
	}
	if o.runs("steward") {
		stewardRes, err := runSteward(ctx, o, work)
		if err != nil {
			return err
		}
		if err := stewardRes.write(w); err != nil {
			return err
		}
	}
	if o.runs("https") {
		httpsRes, err := runHTTPS(ctx, o, guestDir, work)
		if err != nil {
			return err
		}
		if err := httpsRes.write(w); err != nil {
			return err
		}
	}
	if o.runs("storage") {
		storageRes, err := runStorage(ctx, o, guestDir, work)
		if err != nil {
			return err
		}
		if err := storageRes.write(w); err != nil {
			return err
		}
	}
	if checked > 0 {
		if _, err := fmt.Fprintf(w, "\nEvery guest's output matched the native program's for the same input (%d donjon runs checked).\n", checked); err != nil {
			return err
		}
	}
	return nil
}

// keepEnv is the whole environment a keep gives its guest when no config
// says otherwise (docs/run.md): native runs get exactly this too, so both
// sides see the same input and print the same output, and nothing of the
// caller's environment (GOGC, GODEBUG...) tilts the native baseline.
func keepEnv() []string { return []string{"FD_COUNT=3", "FD_NAMES=stdin:stdout:stderr"} }

// donjonArgs is how every donjon run here starts: the nil backend (the only
// one this machine has), and an explicit cache directory so the user's own
// cache is neither used nor filled.
func donjonArgs(o options, cacheDir, module string, guestArgs ...string) []string {
	args := []string{o.Donjon, "run", "--backend", "nil", "--cache-dir", cacheDir, module}
	return append(args, guestArgs...)
}

func writeHeader(ctx context.Context, o options, w io.Writer) error {
	mode := ""
	if o.Quick {
		mode = " — QUICK smoke run: tiny sizes, figures not meaningful"
	}
	if len(o.Only) > 0 {
		mode += " — only " + strings.Join(o.Only, ", ")
	}
	// The steward and HTTPS sections say how they repeat in their own text.
	var reps []string
	if o.runs("compute") {
		reps = append(reps, fmt.Sprintf("%d per compute benchmark", o.Reps))
	}
	if o.runs("startup") {
		reps = append(reps, fmt.Sprintf("%d per start-up measurement", o.StartupReps))
	}
	if o.runs("storage") {
		reps = append(reps, fmt.Sprintf("%d storage runs", o.StorageReps))
	}
	repLine := ""
	if len(reps) > 0 {
		repLine = "- repetitions: " + strings.Join(reps, ", ") + "; runs of the things compared are interleaved\n"
	}
	_, err := fmt.Fprintf(w, `# donjon bench%s

- date: %s
- machine: %s, %d CPUs, %s/%s
- toolchains: %s; %s
- donjon: %s --backend nil (no TEE: the guest runs as an ordinary process under wazero)
%s
Ratios are medians of per-repetition ratios, each repetition's subject divided by its own
baseline; "spread" is the lowest and highest of those ratios. Times (ms) are medians, for scale.
`, mode, time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		runtime.Version(), firstLine(ctx, "clang", "--version"), o.Donjon, repLine)
	return err
}

// cpuModel reads the processor's name, for the report's header only.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func firstLine(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return name + " (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
