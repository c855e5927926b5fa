package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// checkStewardRows checks the steward section of a report: every platform
// has its three measures, each with the requests asked for, positive rates
// and latencies with p50 <= p99, and its two ratios.
func checkStewardRows(t *testing.T, rows map[string]map[string]string, o options, report string) {
	t.Helper()
	for _, platform := range []string{"SNP", "TDX"} {
		for _, m := range []string{measureHTTP, measureVerify, measureIssue} {
			row, ok := rows[platform+"/"+m]
			if !ok {
				t.Errorf("no steward row for %s %q in:\n%s", platform, m, report)
				continue
			}
			what := "steward " + platform + " " + m
			if n, err := strconv.Atoi(row["requests"]); err != nil || n != o.StewardRequests {
				t.Errorf("%s: requests %q, want %d", what, row["requests"], o.StewardRequests)
			}
			for _, col := range []string{"req/s", "req/s per core", "req per CPU-s"} {
				checkPositive(t, what+" "+col, row[col])
			}
			p50, p99 := checkPositive(t, what+" p50", row["p50 ms"]), checkPositive(t, what+" p99", row["p99 ms"])
			if p50 > p99 {
				t.Errorf("%s: p50 %v ms above p99 %v ms", what, p50, p99)
			}
		}
		for _, r := range []string{"issue / verify only", "issue / HTTP baseline"} {
			row, ok := rows[platform+"/"+r]
			if !ok {
				t.Errorf("no steward ratio %s %q in:\n%s", platform, r, report)
				continue
			}
			checkRatio(t, "steward "+platform+" "+r, row["p50 ratio"], row["spread"])
			checkRatio(t, "steward "+platform+" "+r+" p99", row["p99 ratio"], "")
		}
	}
	if !strings.Contains(report, "Every answer was checked") {
		t.Errorf("the steward section does not say its answers were checked:\n%s", report)
	}
}

// checkPositive checks that cell is a positive number and returns it.
func checkPositive(t *testing.T, what, cell string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(cell, 64)
	if err != nil || v <= 0 {
		t.Errorf("%s: %q is not a positive number", what, cell)
	}
	return v
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[len(ds)-1-i] = time.Duration(i + 1) // 100 down to 1: percentile must sort
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0, 1}, {99.5, 100}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if ds[0] != 100 {
		t.Error("percentile sorted its argument in place")
	}
	if got := percentile([]time.Duration{7, 3}, 99); got != 7 {
		t.Errorf("p99 of two values = %v, want the larger, 7", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestLoad(t *testing.T) {
	var calls atomic.Int64
	lat, wall, err := load(context.Background(), 3, 10, func(_ context.Context, i int) (time.Duration, error) {
		calls.Add(1)
		return time.Duration(i + 1), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 10 || len(lat) != 10 {
		t.Fatalf("%d calls, %d latencies; want 10 of each", calls.Load(), len(lat))
	}
	for i, d := range lat {
		if d != time.Duration(i+1) {
			t.Errorf("latency %d = %v, want what request %d reported, %v", i, d, i, i+1)
		}
	}
	if wall <= 0 {
		t.Errorf("wall time %v", wall)
	}

	calls.Store(0)
	_, _, err = load(context.Background(), 2, 1000, func(_ context.Context, i int) (time.Duration, error) {
		calls.Add(1)
		if i == 5 {
			return 0, errors.New("refused")
		}
		time.Sleep(time.Millisecond)
		return 1, nil
	})
	if err == nil || !strings.Contains(err.Error(), "request 5: refused") {
		t.Fatalf("a failing request gave %v, want its error", err)
	}
	if calls.Load() == 1000 {
		t.Error("the batch went on after a request failed")
	}
}

func TestStewardFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick"}, io.Discard)
	if err != nil || o.StewardRequests != quickStewardRequests || o.StewardClients != runtime.GOMAXPROCS(0) {
		t.Errorf("-quick gave %d steward requests and %d clients (%v), want %d and GOMAXPROCS", o.StewardRequests, o.StewardClients, err, quickStewardRequests)
	}
	o, err = parseFlags(nil, io.Discard)
	if err != nil || o.StewardRequests != defaultStewardRequests {
		t.Errorf("defaults gave %d steward requests (%v), want %d", o.StewardRequests, err, defaultStewardRequests)
	}
	for _, bad := range [][]string{{"-steward-requests", "-1"}, {"-steward-clients", "-2"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

func TestStewardRounds(t *testing.T) {
	for _, c := range []struct{ requests, want int }{{1, 1}, {19, 1}, {20, 2}, {2000, 10}, {100000, 10}} {
		if got := stewardRounds(c.requests); got != c.want {
			t.Errorf("stewardRounds(%d) = %d, want %d", c.requests, got, c.want)
		}
	}
}

// TestStewardTimeBudget runs the steward section with no time to spare:
// it must still run two rounds, and stop there.
func TestStewardTimeBudget(t *testing.T) {
	o, err := parseFlags([]string{"-steward-requests", "40", "-steward-clients", "2", "-steward-time", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := runSteward(context.Background(), o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.rounds != 4 || r.ran != 2 {
		t.Errorf("ran %d of %d rounds, want 2 of 4", r.ran, r.rounds)
	}
	for _, c := range r.cases {
		for _, side := range []*loadSide{&c.http, &c.verify, &c.issue} {
			if len(side.latencies) != 20 || len(side.roundP50) != 2 || side.wall <= 0 {
				t.Errorf("%s: %d latencies over %d rounds in %v, want 20 over 2", c.Name, len(side.latencies), len(side.roundP50), side.wall)
			}
		}
	}
	// Per platform: 2 warm-up requests and 20 measured ones.
	if r.issued != 44 {
		t.Errorf("%d certificates issued, want 44", r.issued)
	}
	var report strings.Builder
	if err := r.write(&report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(report.String(), "2 rounds of 4 (the time budget ran out)") {
		t.Errorf("the report does not say the budget cut the rounds short:\n%s", report.String())
	}
}
