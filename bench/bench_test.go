package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQuickReport runs the whole harness with tiny sizes against a freshly
// built donjon and checks that the report has every figure, each a
// positive ratio inside its own spread. It asserts nothing about timings:
// only that the harness measures, checks outputs, and reports.
func TestQuickReport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	donjon := filepath.Join(t.TempDir(), "donjon")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", donjon, "donjon.dev/cmd/donjon").CombinedOutput(); err != nil {
		t.Fatalf("build donjon: %v\n%s", err, out)
	}
	o, err := parseFlags([]string{"-quick", "-startup-reps", "1", "-donjon", donjon, "-work", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	var report bytes.Buffer
	if err := run(ctx, o, &report); err != nil {
		t.Fatalf("run: %v\nreport so far:\n%s", err, report.String())
	}
	rows := parseTables(report.String())

	for _, lang := range []string{"C", "Go"} {
		for _, wl := range workloads(o) {
			row, ok := rows[lang+"/"+wl.Label]
			if !ok {
				t.Errorf("no compute row for %s %s in:\n%s", lang, wl.Label, report.String())
				continue
			}
			checkRatio(t, lang+" "+wl.Label, row["ratio"], row["spread"])
			// compute-only may be n/a when a tiny workload is lost in
			// start-up noise; when given, it must be a ratio too.
			if row["compute-only ratio"] != "n/a" {
				checkRatio(t, lang+" "+wl.Label+" compute-only", row["compute-only ratio"], row["compute-only spread"])
			}
		}
		for _, m := range []string{"cold start (first output)", "cold total", "cached start (first output)", "cached total: hello world", "cold total / cached total"} {
			row, ok := rows[lang+"/"+m]
			if !ok {
				t.Errorf("no start-up row for %s %q in:\n%s", lang, m, report.String())
				continue
			}
			checkRatio(t, lang+" "+m, row["ratio"], row["spread"])
		}
	}
	checkStewardRows(t, rows, o, report.String())
	checkHTTPSRows(t, rows, report.String())
	checkStorageRows(t, rows, report.String())
	if !strings.Contains(report.String(), "output matched the native program's") {
		t.Errorf("report does not say outputs were checked:\n%s", report.String())
	}
}

// parseTables reads the report's Markdown tables into rows keyed by
// "guest/second column", each a map from column header to cell.
func parseTables(report string) map[string]map[string]string {
	rows := map[string]map[string]string{}
	var header []string
	for _, line := range strings.Split(report, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells
		case strings.HasPrefix(cells[0], "---"):
		default:
			row := map[string]string{}
			for i, c := range cells {
				if i < len(header) {
					row[header[i]] = c
				}
			}
			rows[cells[0]+"/"+cells[1]] = row
		}
	}
	return rows
}

var ratioRE = regexp.MustCompile(`^([0-9]+\.[0-9]{2})x$`)

// checkRatio checks that cell is a positive ratio and, if spread is given,
// that it lies within it.
func checkRatio(t *testing.T, what, cell, spread string) {
	t.Helper()
	m := ratioRE.FindStringSubmatch(cell)
	if m == nil {
		t.Errorf("%s: ratio %q is not of the form 1.23x", what, cell)
		return
	}
	r, _ := strconv.ParseFloat(m[1], 64)
	if r <= 0 {
		t.Errorf("%s: ratio %v is not positive", what, r)
	}
	if spread == "" {
		return
	}
	lo, hi, ok := strings.Cut(spread, "–")
	l, err1 := strconv.ParseFloat(lo, 64)
	h, err2 := strconv.ParseFloat(hi, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Errorf("%s: spread %q is not of the form 1.00–2.00", what, spread)
		return
	}
	if l <= 0 || l > r || r > h {
		t.Errorf("%s: ratio %v is not inside its spread %v–%v, or the spread is not positive", what, r, l, h)
	}
}

func TestOutputMismatchFails(t *testing.T) {
	o := options{RunTimeout: 10 * time.Second}
	s := &side{argv: []string{"sh", "-c", "echo 41"}, name: "guest", expected: []byte("42\n")}
	_, err := s.run(context.Background(), o, true)
	if err == nil || !strings.Contains(err.Error(), "OUTPUT MISMATCH") {
		t.Fatalf("a differing output gave %v, want an OUTPUT MISMATCH error", err)
	}
	if len(s.times) != 0 {
		t.Errorf("a run with the wrong output was timed: %v", s.times)
	}
	s.argv = []string{"sh", "-c", "echo 42"}
	if _, err := s.run(context.Background(), o, true); err != nil {
		t.Fatalf("the right output gave %v", err)
	}
	if len(s.times) != 1 || s.times[0] <= 0 {
		t.Errorf("times = %v, want one positive time", s.times)
	}
}

func TestFailingProgramFails(t *testing.T) {
	_, err := runTimed(context.Background(), 10*time.Second, []string{"sh", "-c", "echo oops >&2; exit 3"}, nil)
	if err == nil || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("exit status 3 gave %v, want an error quoting stderr", err)
	}
	_, err = runTimed(context.Background(), 100*time.Millisecond, []string{"sleep", "5"}, nil)
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("a run over its limit gave %v, want a timeout error", err)
	}
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want summary
	}{
		{[]float64{3, 1, 2}, summary{Median: 2, Min: 1, Max: 3, N: 3}},
		{[]float64{4, 1, 3, 2}, summary{Median: 2.5, Min: 1, Max: 4, N: 4}},
		{[]float64{7}, summary{Median: 7, Min: 7, Max: 7, N: 1}},
	} {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestPairedRatios(t *testing.T) {
	got, err := pairedRatios([]time.Duration{30, 10}, []time.Duration{10, 5})
	if err != nil || len(got) != 2 || got[0] != 3 || got[1] != 2 {
		t.Errorf("pairedRatios = %v, %v; want [3 2]", got, err)
	}
	if _, err := pairedRatios([]time.Duration{1}, []time.Duration{0}); err == nil {
		t.Error("a zero baseline gave no error")
	}
	if _, err := pairedRatios([]time.Duration{1, 2}, []time.Duration{1}); err == nil {
		t.Error("unequal lengths gave no error")
	}
}

func TestFlagsValidate(t *testing.T) {
	if _, err := parseFlags([]string{"-reps", "0", "-quick"}, io.Discard); err != nil {
		t.Errorf("-reps 0 should mean the default, got %v", err)
	}
	if _, err := parseFlags([]string{"-reps", "-1"}, io.Discard); err == nil {
		t.Error("-reps -1 was accepted")
	}
	if _, err := parseFlags([]string{"extra"}, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
	o, err := parseFlags([]string{"-quick"}, io.Discard)
	if err != nil || o.ShaMB != quickShaMB || o.Reps != 2 {
		t.Errorf("-quick gave %+v, %v", o, err)
	}
	o, err = parseFlags(nil, io.Discard)
	if err != nil || o.ShaMB != 100 {
		t.Errorf("defaults gave sha256 over %d MB (%v), want 100", o.ShaMB, err)
	}
}
