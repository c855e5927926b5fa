package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"
)

// workload is one compute benchmark: a subcommand of the compute guests
// and its size.
type workload struct {
	Label string // how the report names it
	Cmd   string // the guest's subcommand
	Size  int    // its argument
}

func (w workload) args(size int) []string { return []string{w.Cmd, strconv.Itoa(size)} }

func workloads(o options) []workload {
	return []workload{
		{fmt.Sprintf("sha256 %d MB", o.ShaMB), "sha256", o.ShaMB},
		{fmt.Sprintf("sieve %d", o.SieveN), "sieve", o.SieveN},
		{fmt.Sprintf("matmul %dx%d", o.MatmulN, o.MatmulN), "matmul", o.MatmulN},
	}
}

// side is one way of running a program (native, or under donjon) at one
// size, with the output it must print and the times it took.
type side struct {
	argv     []string
	env      []string // nil: this process's environment
	name     string   // for error messages
	expected []byte   // nil until the native run of the same size set it
	times    []time.Duration
}

// computeCase is one workload of one guest. Besides the real size, each
// side also runs at size 0: the same process doing no work. Subtracting it
// leaves the computation alone, without process, runtime and instance
// start-up (the compute guests do not time themselves).
type computeCase struct {
	Prog program
	Work workload

	native, donjon         *side
	nativeZero, donjonZero *side
}

type computeResults struct {
	cases []*computeCase
	runs  int
}

func newComputeCase(o options, p program, wl workload, cacheDir string) *computeCase {
	mk := func(kind string, size int, argv, env []string) *side {
		return &side{argv: append(argv, wl.args(size)...), env: env, name: fmt.Sprintf("%s %s guest %s %d", kind, p.Lang, wl.Cmd, size)}
	}
	return &computeCase{
		Prog:       p,
		Work:       wl,
		native:     mk("native", wl.Size, []string{p.Native}, keepEnv()),
		donjon:     mk("donjon", wl.Size, donjonArgs(o, cacheDir, p.Wasm), nil),
		nativeZero: mk("native", 0, []string{p.Native}, keepEnv()),
		donjonZero: mk("donjon", 0, donjonArgs(o, cacheDir, p.Wasm), nil),
	}
}

// runCompute times each workload natively and under donjon with a warm
// cache, pair by pair. The outer loop is the repetition, so a slow spell of
// the machine spreads across all benchmarks instead of spoiling one.
func runCompute(ctx context.Context, o options, progs []program, cacheDir string) (*computeResults, error) {
	res := &computeResults{}
	for _, p := range progs {
		for _, wl := range workloads(o) {
			res.cases = append(res.cases, newComputeCase(o, p, wl, cacheDir))
		}
	}
	// Warm-up, untimed: the native runs give the expected outputs; the
	// first donjon run compiles the module into the cache, so the timed
	// runs exclude compile time; all of them fill the page cache.
	for _, c := range res.cases {
		o.Log.Info("compute warm-up", "guest", c.Prog.Lang, "workload", c.Work.Label)
		for _, pair := range [][2]*side{{c.native, c.donjon}, {c.nativeZero, c.donjonZero}} {
			out, err := pair[0].run(ctx, o, false)
			if err != nil {
				return nil, err
			}
			if len(bytes.TrimSpace(out)) == 0 {
				return nil, fmt.Errorf("%s printed nothing: the benchmark needs output to check", pair[0].name)
			}
			pair[0].expected, pair[1].expected = out, out
			if _, err := pair[1].run(ctx, o, false); err != nil {
				return nil, err
			}
			res.runs++
		}
	}
	for rep := range o.Reps {
		o.Log.Info("compute", "repetition", fmt.Sprintf("%d/%d", rep+1, o.Reps))
		for _, c := range res.cases {
			// Alternate which side goes first, so neither always runs
			// right after the other has warmed or trashed the caches.
			order := []*side{c.native, c.donjon, c.nativeZero, c.donjonZero}
			if rep%2 == 1 {
				order = []*side{c.donjon, c.native, c.donjonZero, c.nativeZero}
			}
			for _, s := range order {
				if _, err := s.run(ctx, o, true); err != nil {
					return nil, err
				}
			}
			res.runs += 2
		}
	}
	return res, nil
}

// run runs one side, checks its output when it is known, and records the
// time if asked to.
func (s *side) run(ctx context.Context, o options, record bool) ([]byte, error) {
	t, err := runTimed(ctx, o.RunTimeout, s.argv, s.env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if s.expected != nil && !bytes.Equal(t.Stdout, s.expected) {
		return nil, fmt.Errorf("OUTPUT MISMATCH: %s printed %q, the native program %q for the same input", s.name, clip(string(t.Stdout), 200), clip(string(s.expected), 200))
	}
	if record {
		s.times = append(s.times, t.Wall)
	}
	return t.Stdout, nil
}

// computeOnlyRatios divides, repetition by repetition, donjon's time less
// its size-0 time by the native time less its own. A workload too small to
// outlast the noise of start-up gives no ratio.
func (c *computeCase) computeOnlyRatios() ([]float64, bool) {
	out := make([]float64, len(c.native.times))
	for i := range out {
		num := c.donjon.times[i] - c.donjonZero.times[i]
		den := c.native.times[i] - c.nativeZero.times[i]
		if num <= 0 || den <= 0 {
			return nil, false
		}
		out[i] = float64(num) / float64(den)
	}
	return out, len(out) > 0
}

func (r *computeResults) write(w io.Writer) error {
	fmt.Fprintf(w, "\n## Compute: donjon run --backend nil (warm cache) / the same source built natively\n\n")
	fmt.Fprintf(w, "ratio: whole runs, process start to exit. compute-only: each side's time less its own time for\n")
	fmt.Fprintf(w, "the same program at size 0, which leaves the work alone, without start-up.\n\n")
	t := &table{header: []string{"guest", "workload", "native ms", "donjon ms", "ratio", "spread", "compute-only ratio", "compute-only spread"}}
	for _, c := range r.cases {
		ratios, err := pairedRatios(c.donjon.times, c.native.times)
		if err != nil {
			return fmt.Errorf("%s %s: %w", c.Prog.Lang, c.Work.Label, err)
		}
		whole := summarize(ratios)
		onlyRatio, onlySpread := "n/a", "n/a"
		if only, ok := c.computeOnlyRatios(); ok {
			s := summarize(only)
			onlyRatio, onlySpread = ratioCell(s.Median), spreadCell(s)
		}
		t.add(c.Prog.Lang, c.Work.Label,
			msCell(summarize(millis(c.native.times)).Median), msCell(summarize(millis(c.donjon.times)).Median),
			ratioCell(whole.Median), spreadCell(whole), onlyRatio, onlySpread)
	}
	return t.write(w)
}
