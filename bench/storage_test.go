package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"donjon.dev/internal/testguest"
)

// checkStorageRows checks the storage section of a report: every phase has
// its figures, positive, throughputs with a ratio inside its spread, fsync
// times without one.
func checkStorageRows(t *testing.T, rows map[string]map[string]string, report string) {
	t.Helper()
	for _, ph := range storagePhases {
		for _, f := range ph.figures() {
			row, ok := rows[ph.Label+"/"+f.name]
			if !ok {
				t.Errorf("no storage row %q / %q in:\n%s", ph.Label, f.name, report)
				continue
			}
			what := "storage " + ph.Label + " " + f.name
			for _, col := range []string{"plain", "sealed"} {
				if f.noRatio {
					// An fsync on a file system that ignores it (tmpfs)
					// takes less than the cell shows: 0.00 is fine.
					if v, err := strconv.ParseFloat(row[col], 64); err != nil || v < 0 {
						t.Errorf("%s %s: %q is not a time", what, col, row[col])
					}
					continue
				}
				checkPositive(t, what+" "+col, row[col])
			}
			if f.noRatio {
				if row["sealed/plain"] != "" || row["spread"] != "" {
					t.Errorf("%s: a ratio %q where none means anything", what, row["sealed/plain"])
				}
				continue
			}
			checkRatio(t, what, row["sealed/plain"], row["spread"])
		}
	}
	if !strings.Contains(report, "Sealed and plain directories read back the same data") {
		t.Errorf("the storage section does not say its data was checked:\n%s", report)
	}
}

// TestStorageSection runs the storage section alone, quick, in keeps of a
// freshly built donjon: the guest runs sealed and plain, its output parses,
// and the report has every phase's figures. Nothing about the figures'
// values is asserted.
func TestStorageSection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	donjon := filepath.Join(t.TempDir(), "donjon")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", donjon, "donjon.dev/cmd/donjon").CombinedOutput(); err != nil {
		t.Fatalf("build donjon: %v\n%s", err, out)
	}
	work := t.TempDir()
	o, err := parseFlags([]string{"-quick", "-only", "storage", "-donjon", donjon, "-work", work}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	var report bytes.Buffer
	if err := run(ctx, o, &report); err != nil {
		t.Fatalf("run: %v\nreport so far:\n%s", err, report.String())
	}
	checkStorageRows(t, parseTables(report.String()), report.String())
	for _, other := range []string{"## Compute", "## Start-up", "## Steward", "## HTTPS"} {
		if strings.Contains(report.String(), other) {
			t.Errorf("-only storage ran another section too (%s):\n%s", other, report.String())
		}
	}
	// The warm-up run and two repetitions.
	if want := "read back the same data in all 3 runs"; !strings.Contains(report.String(), want) {
		t.Errorf("the report does not say %q:\n%s", want, report.String())
	}
}

// TestStorageGuestNative runs the storage guest built natively: its output
// parses, two directories read the same data, the same seed reads the same
// data in another run, another seed other data, and bad arguments are
// refused.
func TestStorageGuestNative(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	guest := testguest.BuildNative(t, storageGuest)
	// 20 blocks and 70 random operations: slices of 64 and a short one.
	const size, ops = 20 * storageBlock, 70
	sums := func(seed int) []string {
		t.Helper()
		a, b := t.TempDir(), t.TempDir()
		cmd := exec.CommandContext(ctx, guest, strconv.Itoa(size), strconv.Itoa(seed), strconv.Itoa(ops), a, b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("storage guest, seed %d: %v", seed, err)
		}
		res, err := parseStorageOutput(out, []string{a, b}, size, ops)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if err := sameData(res[0], res[1], int64(seed)); err != nil {
			t.Errorf("two plain directories: %v", err)
		}
		var s []string
		for i, ph := range storagePhases {
			if ph.Write != (res[0][i].Sum == "") {
				t.Errorf("seed %d, %s: checksum %q", seed, ph.Name, res[0][i].Sum)
			}
			s = append(s, res[0][i].Sum)
		}
		return s
	}
	a, b, c := sums(1), sums(1), sums(2)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("the same seed read different data: %v, then %v", a, b)
	}
	if a[2] == c[2] || a[3] == c[3] {
		t.Errorf("seeds 1 and 2 read the same data: %v and %v", a, c)
	}
	for _, args := range [][]string{
		{"4097", "1", "0", t.TempDir()},        // not a multiple of 4096
		{"0", "1", "0", t.TempDir()},           // empty
		{"4096", "x", "0", t.TempDir()},        // not a seed
		{"4096", "1", "-1", t.TempDir()},       // negative ops
		{"4096", "1", "0", t.TempDir() + " x"}, // a name the output could not carry
		{"4096", "1", "0"},                     // no directory
	} {
		err := exec.CommandContext(ctx, guest, args...).Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 64 {
			t.Errorf("storage %q: %v, want exit status 64", args, err)
		}
	}
}

const goodStorageOutput = `seqwrite dir=/s bytes=8192 ops=2 ns=5000 sync=1000
seqwrite dir=/p bytes=8192 ops=2 ns=4500 sync=1500
randwrite dir=/s bytes=12288 ops=3 ns=4000 sync=2000
randwrite dir=/p bytes=12288 ops=3 ns=3000 sync=2500
seqread dir=/s bytes=8192 ops=2 ns=3000 sum=0123456789abcdef
seqread dir=/p bytes=8192 ops=2 ns=2500 sum=0123456789abcdef
randread dir=/s bytes=12288 ops=3 ns=2000 sum=fedcba9876543210
randread dir=/p bytes=12288 ops=3 ns=1500 sum=fedcba9876543211
done storage
`

var goodStorageDirs = []string{"/s", "/p"}

func TestParseStorageOutput(t *testing.T) {
	res, err := parseStorageOutput([]byte(goodStorageOutput), goodStorageDirs, 8192, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]phaseResult{{
		{Bytes: 8192, Ops: 2, Took: 5000, Sync: 1000},
		{Bytes: 12288, Ops: 3, Took: 4000, Sync: 2000},
		{Bytes: 8192, Ops: 2, Took: 3000, Sum: "0123456789abcdef"},
		{Bytes: 12288, Ops: 3, Took: 2000, Sum: "fedcba9876543210"},
	}, {
		{Bytes: 8192, Ops: 2, Took: 4500, Sync: 1500},
		{Bytes: 12288, Ops: 3, Took: 3000, Sync: 2500},
		{Bytes: 8192, Ops: 2, Took: 2500, Sum: "0123456789abcdef"},
		{Bytes: 12288, Ops: 3, Took: 1500, Sum: "fedcba9876543211"},
	}}
	for d := range want {
		for i := range want[d] {
			if res[d][i] != want[d][i] {
				t.Errorf("directory %d, phase %d: %+v, want %+v", d, i, res[d][i], want[d][i])
			}
		}
	}
	if got := res[0][0].mbps(); math.Abs(got-1638.4) > 1e-9 {
		t.Errorf("8192 bytes in 5000 ns gave %v MB/s, want 1638.4", got)
	}
	if _, err := parseStorageOutput([]byte(goodStorageOutput), []string{"/p", "/s"}, 8192, 3); err == nil || !strings.Contains(err.Error(), "want seqwrite dir=/p") {
		t.Errorf("directories in the other order gave %v", err)
	}

	for _, c := range []struct {
		name, from, to string
		size, ops      int64
		want           string
	}{
		{"no done", "done storage\n", "", 8192, 3, "want 8 phase lines"},
		{"line missing", "randwrite dir=/p bytes=12288 ops=3 ns=3000 sync=2500\n", "", 8192, 3, "want 8 phase lines"},
		{"phases swapped", "seqwrite dir=/s", "randwrite dir=/s", 8192, 3, "want seqwrite dir=/s"},
		{"other directory", "seqread dir=/p", "seqread dir=/q", 8192, 3, "want seqread dir=/p"},
		{"extra field", "sum=fedcba9876543210", "sum=fedcba9876543210 x=1", 8192, 3, "want randread dir=/s"},
		{"sum on a write", "sync=1000", "sum=0123456789abcdef", 8192, 3, "where sync="},
		{"sync on a read", "ns=3000 sum=0123456789abcdef", "ns=3000 sync=1", 8192, 3, "where sum="},
		{"negative", "ns=5000", "ns=-5", 8192, 3, "not a non-negative integer"},
		{"not a number", "ops=3 ns=4000", "ops=three ns=4000", 8192, 3, "not a non-negative integer"},
		{"no time", "ns=3000", "ns=0", 8192, 3, "clock does not advance"},
		{"fsync is everything", "sync=2000", "sync=4000", 8192, 3, "not less than the whole phase"},
		{"short checksum", "sum=fedcba9876543210", "sum=0123", 8192, 3, "not 16 hex digits"},
		{"bad checksum", "sum=fedcba9876543210", "sum=0123456789abcdeg", 8192, 3, "not 16 hex digits"},
		{"other size", "", "", 4096, 3, "asked for 1 of 4096 bytes"},
		{"other ops", "", "", 8192, 4, "asked for 4 of 4096 bytes"},
	} {
		out := goodStorageOutput
		if c.from != "" {
			if !strings.Contains(out, c.from) {
				t.Fatalf("%s: %q is not in the output", c.name, c.from)
			}
			out = strings.Replace(out, c.from, c.to, 1)
		}
		_, err := parseStorageOutput([]byte(out), goodStorageDirs, c.size, c.ops)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestSameData(t *testing.T) {
	res, err := parseStorageOutput([]byte(goodStorageOutput), goodStorageDirs, 8192, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The sample's random reads differ by one bit.
	if err := sameData(res[0], res[1], 7); err == nil || !strings.Contains(err.Error(), "DATA MISMATCH") || !strings.Contains(err.Error(), "random read") {
		t.Errorf("different data gave %v, want a DATA MISMATCH of the random read", err)
	}
	b := append([]phaseResult(nil), res[0]...)
	b[0].Took = 1 // timings differ between directories; data must not
	if err := sameData(res[0], b, 7); err != nil {
		t.Errorf("equal data: %v", err)
	}
}

func TestStorageFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.StorageMiB != defaultStorageMiB || o.StorageOps != defaultStorageMiB<<20/storageBlock || o.StorageReps != 9 || !o.runs("storage") {
		t.Errorf("defaults gave %d MiB, %d ops, %d reps (%v); want %d MiB, one op per block, 9", o.StorageMiB, o.StorageOps, o.StorageReps, err, defaultStorageMiB)
	}
	o, err = parseFlags([]string{"-quick"}, io.Discard)
	if err != nil || o.StorageMiB != quickStorageMiB || o.StorageOps != 256 || o.StorageReps != 2 {
		t.Errorf("-quick gave %d MiB, %d ops, %d reps (%v)", o.StorageMiB, o.StorageOps, o.StorageReps, err)
	}
	o, err = parseFlags([]string{"-storage-size", "2", "-storage-reps", "3", "-only", "storage"}, io.Discard)
	if err != nil || o.StorageOps != 512 || o.StorageReps != 3 || o.runs("compute") || !o.runs("storage") {
		t.Errorf("-storage-size 2 -storage-reps 3 -only storage gave %+v (%v)", o, err)
	}
	o, err = parseFlags([]string{"-storage-ops", "10"}, io.Discard)
	if err != nil || o.StorageOps != 10 {
		t.Errorf("-storage-ops 10 gave %d (%v)", o.StorageOps, err)
	}
	for _, bad := range [][]string{
		{"-storage-size", "-1"},
		{"-storage-ops", "-1"},
		{"-storage-reps", "-2"},
		{"-storage-size", strconv.Itoa(maxStorageMiB + 1)},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
