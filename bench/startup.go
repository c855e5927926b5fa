package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// startupCase is one hello world measured natively, cold and cached.
type startupCase struct {
	Prog     program
	expected []byte

	native                   []time.Duration // the native binary, start to exit: the baseline
	coldFirst, coldTotal     []time.Duration // donjon with an empty cache: compiles
	cachedFirst, cachedTotal []time.Duration // donjon with the module's code in the cache
}

type startupResults struct {
	cases []*startupCase
	runs  int
}

// runStartup times each hello world three ways per repetition, rotating
// their order from one repetition to the next.
func runStartup(ctx context.Context, o options, progs []program, work string) (*startupResults, error) {
	res := &startupResults{}
	warmCache := filepath.Join(work, "cache")
	for _, p := range progs {
		c := &startupCase{Prog: p}
		res.cases = append(res.cases, c)
		o.Log.Info("start-up warm-up", "guest", p.Lang)
		t, err := runTimed(ctx, o.RunTimeout, []string{p.Native}, keepEnv())
		if err != nil {
			return nil, fmt.Errorf("native %s hello: %w", p.Lang, err)
		}
		c.expected = t.Stdout
		if len(bytes.TrimSpace(c.expected)) == 0 {
			return nil, fmt.Errorf("native %s hello printed nothing: the benchmark needs output to check", p.Lang)
		}
		if _, err := c.runDonjon(ctx, o, warmCache); err != nil {
			return nil, err
		}
		res.runs++
	}
	for rep := range o.StartupReps {
		o.Log.Info("start-up", "repetition", fmt.Sprintf("%d/%d", rep+1, o.StartupReps))
		for _, c := range res.cases {
			steps := []func() error{
				func() error {
					t, err := runTimed(ctx, o.RunTimeout, []string{c.Prog.Native}, keepEnv())
					if err != nil {
						return fmt.Errorf("native %s hello: %w", c.Prog.Lang, err)
					}
					if !bytes.Equal(t.Stdout, c.expected) {
						return fmt.Errorf("native %s hello is not deterministic: printed %q, then %q", c.Prog.Lang, c.expected, t.Stdout)
					}
					c.native = append(c.native, t.Wall)
					return nil
				},
				func() error {
					// A fresh, empty cache directory: what a first run
					// does, compiling and then storing the code.
					dir, err := os.MkdirTemp(work, "cold-cache-")
					if err != nil {
						return fmt.Errorf("cold cache directory: %w", err)
					}
					defer os.RemoveAll(dir)
					t, err := c.runDonjon(ctx, o, dir)
					if err != nil {
						return err
					}
					c.coldFirst, c.coldTotal = append(c.coldFirst, t.FirstOutput), append(c.coldTotal, t.Wall)
					return nil
				},
				func() error {
					t, err := c.runDonjon(ctx, o, warmCache)
					if err != nil {
						return err
					}
					c.cachedFirst, c.cachedTotal = append(c.cachedFirst, t.FirstOutput), append(c.cachedTotal, t.Wall)
					return nil
				},
			}
			for i := range steps {
				if err := steps[(i+rep)%len(steps)](); err != nil {
					return nil, err
				}
			}
			res.runs += 2
		}
	}
	return res, nil
}

func (c *startupCase) runDonjon(ctx context.Context, o options, cacheDir string) (timing, error) {
	t, err := runTimed(ctx, o.RunTimeout, donjonArgs(o, cacheDir, c.Prog.Wasm), nil)
	if err != nil {
		return t, fmt.Errorf("donjon %s hello: %w", c.Prog.Lang, err)
	}
	if !bytes.Equal(t.Stdout, c.expected) {
		return t, fmt.Errorf("OUTPUT MISMATCH: %s hello under donjon printed %q, the native program %q", c.Prog.Lang, clip(string(t.Stdout), 200), c.expected)
	}
	return t, nil
}

func (r *startupResults) write(w io.Writer) error {
	fmt.Fprintf(w, "\n## Start-up: hello world under donjon / the native hello binary's total time\n\n")
	fmt.Fprintf(w, "cold: an empty --cache-dir, so donjon compiles the module (and stores it); cached: the module's\n")
	fmt.Fprintf(w, "code comes from the cache. start: until the first byte on stdout; total: until the process exits.\n\n")
	t := &table{header: []string{"guest", "measure", "ms", "ratio", "spread"}}
	for _, c := range r.cases {
		t.add(c.Prog.Lang, "native hello, total (baseline)", msCell(summarize(millis(c.native)).Median), ratioCell(1), "baseline")
		for _, m := range []struct {
			name string
			ds   []time.Duration
		}{
			{"cold start (first output)", c.coldFirst},
			{"cold total", c.coldTotal},
			{"cached start (first output)", c.cachedFirst},
			{"cached total: hello world", c.cachedTotal},
		} {
			ratios, err := pairedRatios(m.ds, c.native)
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.Prog.Lang, m.name, err)
			}
			s := summarize(ratios)
			t.add(c.Prog.Lang, m.name, msCell(summarize(millis(m.ds)).Median), ratioCell(s.Median), spreadCell(s))
		}
		ratios, err := pairedRatios(c.coldTotal, c.cachedTotal)
		if err != nil {
			return fmt.Errorf("%s cold/cached: %w", c.Prog.Lang, err)
		}
		s := summarize(ratios)
		t.add(c.Prog.Lang, "cold total / cached total", "", ratioCell(s.Median), spreadCell(s))
	}
	return t.write(w)
}
