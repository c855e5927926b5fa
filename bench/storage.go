package main

// The storage section: the same guest doing the same file I/O in a sealed
// directory (--dir: package sealfs encrypts every 4 KiB block on the host)
// and in a plain one (--plain-dir), both given to one keep by `donjon run`,
// so that the ratio is the cost of sealing alone. The guest times its
// phases itself with the WASI clock, so process start and module loading
// are not in the figures, and alternates between the two directories every
// 64 operations, so that the two sides are measured milliseconds apart.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"donjon.dev/internal/testguest"
)

const (
	storageGuest = "c/storage"
	// Where the guest sees the two directories.
	sealedMount = "/sealed"
	plainMount  = "/plain"
	// storageBlock is the size of the guest's every read and write.
	storageBlock = 4096

	defaultStorageMiB = 64
	quickStorageMiB   = 1
	// storageWarmupBytes is the file size of the untimed warm-up run,
	// which compiles the module into the cache.
	storageWarmupBytes = 256 << 10
)

// storagePhase is one phase of the storage guest, in the order it runs them.
type storagePhase struct {
	Name  string // as the guest prints it
	Label string // as the report names it
	Write bool   // write phases end with an fsync and print its time; read phases a checksum
	Seq   bool   // one operation per block of the file; random phases make -storage-ops
}

var storagePhases = []storagePhase{
	{"seqwrite", "sequential write", true, true},
	{"randwrite", "random write", true, false},
	{"seqread", "sequential read", false, true},
	{"randread", "random read", false, false},
}

// phaseResult is one phase on one directory, as the guest reported it.
type phaseResult struct {
	Bytes, Ops int64
	Took       time.Duration // the phase's slices and its fsync
	Sync       time.Duration // write phases: the fsync's part of Took
	Sum        string        // read phases: the guest's checksum of what it read
}

// mbps is the phase's throughput in 10^6 bytes a second.
func (p phaseResult) mbps() float64 { return float64(p.Bytes) / p.Took.Seconds() / 1e6 }

// parseStorageOutput reads the storage guest's output for the directories
// it was given: one line per phase and directory, phase by phase, then
// "done storage". The result is indexed by directory, then phase. Anything
// else, or figures other than the run asked for, is an error: the figures
// must not come from a guest that did something else.
func parseStorageOutput(out []byte, dirs []string, size, ops int64) ([][]phaseResult, error) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	want := len(storagePhases) * len(dirs)
	if len(lines) != want+1 || lines[want] != "done storage" {
		return nil, fmt.Errorf("the storage guest printed %q; want %d phase lines and \"done storage\"", clip(string(out), 300), want)
	}
	res := make([][]phaseResult, len(dirs))
	for d := range dirs {
		res[d] = make([]phaseResult, len(storagePhases))
	}
	for i, line := range lines[:want] {
		ph, d := storagePhases[i/len(dirs)], i%len(dirs)
		r, err := parsePhaseLine(line, ph, dirs[d])
		if err != nil {
			return nil, err
		}
		wantOps := ops
		if ph.Seq {
			wantOps = size / storageBlock
		}
		if r.Ops != wantOps || r.Bytes != wantOps*storageBlock {
			return nil, fmt.Errorf("the storage guest's %s in %s did %d operations, %d bytes; asked for %d of %d bytes", ph.Name, dirs[d], r.Ops, r.Bytes, wantOps, storageBlock)
		}
		res[d][i/len(dirs)] = r
	}
	return res, nil
}

// parsePhaseLine reads "PHASE dir=DIR bytes=N ops=N ns=N" and "sync=N" for
// a write phase or "sum=HEX" for a read phase.
func parsePhaseLine(line string, ph storagePhase, dir string) (phaseResult, error) {
	var r phaseResult
	fields := strings.Fields(line)
	last := "sum"
	if ph.Write {
		last = "sync"
	}
	if len(fields) != 6 || fields[0] != ph.Name || fields[1] != "dir="+dir {
		return r, fmt.Errorf("the storage guest printed %q; want %s dir=%s bytes=N ops=N ns=N %s=VALUE", clip(line, 200), ph.Name, dir, last)
	}
	vals := map[string]string{}
	for j, key := range []string{"bytes", "ops", "ns", last} {
		k, v, ok := strings.Cut(fields[j+2], "=")
		if !ok || k != key {
			return r, fmt.Errorf("the storage guest's %s line for %s has %q where %s=VALUE belongs", ph.Name, dir, fields[j+2], key)
		}
		vals[k] = v
	}
	num := func(key string) (int64, error) {
		n, err := strconv.ParseInt(vals[key], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("the storage guest's %s %s=%q for %s is not a non-negative integer", ph.Name, key, vals[key], dir)
		}
		return n, nil
	}
	var ns, syncNS int64
	var err error
	if r.Bytes, err = num("bytes"); err != nil {
		return r, err
	}
	if r.Ops, err = num("ops"); err != nil {
		return r, err
	}
	if ns, err = num("ns"); err != nil {
		return r, err
	}
	if ns == 0 {
		return r, fmt.Errorf("the storage guest's %s in %s took 0 ns: its clock does not advance", ph.Name, dir)
	}
	r.Took = time.Duration(ns)
	if !ph.Write {
		r.Sum = vals["sum"]
		if _, err := strconv.ParseUint(r.Sum, 16, 64); err != nil || len(r.Sum) != 16 {
			return r, fmt.Errorf("the storage guest's %s checksum %q for %s is not 16 hex digits", ph.Name, r.Sum, dir)
		}
		return r, nil
	}
	if syncNS, err = num("sync"); err != nil {
		return r, err
	}
	if syncNS >= ns {
		return r, fmt.Errorf("the storage guest's %s fsync in %s took %d ns, not less than the whole phase's %d", ph.Name, dir, syncNS, ns)
	}
	r.Sync = time.Duration(syncNS)
	return r, nil
}

// sameData checks that the sealed and the plain directory, given the same
// operations, read back the same bytes.
func sameData(sealed, plain []phaseResult, seed int64) error {
	for i, ph := range storagePhases {
		if !ph.Write && sealed[i].Sum != plain[i].Sum {
			return fmt.Errorf("DATA MISMATCH: with seed %d, the %s of the sealed directory read data with checksum %s, the plain one's %s: sealfs gave back other bytes than were written", seed, ph.Label, sealed[i].Sum, plain[i].Sum)
		}
	}
	return nil
}

type storageResults struct {
	size, ops     int64
	reps          int
	fsType        string
	sealed, plain [][]phaseResult // per repetition, per phase
	checked       int             // runs whose two directories read the same data, warm-up included
}

// storageRunner runs the guest in a keep given a fresh sealed and a fresh
// plain directory.
type storageRunner struct {
	o        options
	module   string
	cacheDir string
	work     string // where each run's directories are made
	devKey   string
}

// run runs the guest once; sealedFirst decides the order of the
// directories, which the guest starts its slices with and fsyncs in.
func (s storageRunner) run(ctx context.Context, size, ops, seed int64, sealedFirst bool) (sealed, plain []phaseResult, err error) {
	// Fresh, empty directories for every run: sealfs initialises a volume
	// in its own, and no run finds an earlier run's file.
	sealedHost, err := os.MkdirTemp(s.work, "sealed-")
	if err != nil {
		return nil, nil, fmt.Errorf("storage bench: %w", err)
	}
	defer os.RemoveAll(sealedHost)
	plainHost, err := os.MkdirTemp(s.work, "plain-")
	if err != nil {
		return nil, nil, fmt.Errorf("storage bench: %w", err)
	}
	defer os.RemoveAll(plainHost)

	dirs := []string{sealedMount, plainMount}
	if !sealedFirst {
		dirs = []string{plainMount, sealedMount}
	}
	argv := []string{s.o.Donjon, "run", "--backend", "nil", "--cache-dir", s.cacheDir, "--dev-key", s.devKey,
		"--dir", sealedHost + ":" + sealedMount, "--plain-dir", plainHost + ":" + plainMount, s.module,
		strconv.FormatInt(size, 10), strconv.FormatInt(seed, 10), strconv.FormatInt(ops, 10)}
	argv = append(argv, dirs...)
	t, err := runTimed(ctx, s.o.RunTimeout, argv, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("storage bench: %w", err)
	}
	res, err := parseStorageOutput(t.Stdout, dirs, size, ops)
	if err != nil {
		return nil, nil, fmt.Errorf("storage bench: %w", err)
	}
	sealed, plain = res[0], res[1]
	if !sealedFirst {
		sealed, plain = plain, sealed
	}
	if err := sameData(sealed, plain, seed); err != nil {
		return nil, nil, err
	}
	return sealed, plain, nil
}

// runStorage runs the storage guest on a sealed and a plain directory,
// o.StorageReps times, alternating which of the two comes first.
func runStorage(ctx context.Context, o options, guestDir, work string) (*storageResults, error) {
	o.Log.Info("storage: building "+storageGuest, "dir", guestDir)
	module, err := testguest.BuildTo(ctx, storageGuest, guestDir)
	if err != nil {
		return nil, fmt.Errorf("storage bench: build %s for wasm: %w", storageGuest, err)
	}
	dir, err := os.MkdirTemp(work, "storage-")
	if err != nil {
		return nil, fmt.Errorf("storage bench: %w", err)
	}
	defer os.RemoveAll(dir)
	res := &storageResults{size: int64(o.StorageMiB) << 20, ops: int64(o.StorageOps), reps: o.StorageReps}
	if err := checkFreeSpace(dir, res.size); err != nil {
		return nil, err
	}
	res.fsType = fsType(dir)

	// The nil backend keys sealed directories from a development secret:
	// one of our own, so the user's (in their config directory) is neither
	// used nor created.
	secret := make([]byte, 32)
	rand.Read(secret)
	devKey := filepath.Join(dir, "dev-sealing.key")
	if err := os.WriteFile(devKey, secret, 0o600); err != nil {
		return nil, fmt.Errorf("storage bench: development key: %w", err)
	}
	cacheDir := filepath.Join(work, "cache")
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("storage bench: %w", err)
	}
	runner := storageRunner{o: o, module: module, cacheDir: cacheDir, work: dir, devKey: devKey}

	// Warm-up, untimed: the first run compiles the module into the cache.
	o.Log.Info("storage warm-up")
	warm := min(res.size, storageWarmupBytes)
	if _, _, err := runner.run(ctx, warm, warm/storageBlock, 0, true); err != nil {
		return nil, err
	}
	res.checked++

	for rep := range o.StorageReps {
		o.Log.Info("storage", "repetition", fmt.Sprintf("%d/%d", rep+1, o.StorageReps))
		seed := int64(rep + 1)
		sealed, plain, err := runner.run(ctx, res.size, res.ops, seed, rep%2 == 0)
		if err != nil {
			return nil, err
		}
		res.checked++
		res.sealed = append(res.sealed, sealed)
		res.plain = append(res.plain, plain)
	}
	return res, nil
}

// checkFreeSpace refuses to start when dir's file system cannot hold one
// run's two files (the sealed one is 0.7% larger, plus a journal) with room
// to spare: a full disk would fail the section half way.
func checkFreeSpace(dir string, size int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("storage bench: free space in %s: %w", dir, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if need := uint64(size)*5/2 + 64<<20; free < need {
		return fmt.Errorf("storage bench: %s has %d MiB free and a run needs about %d MiB: give a smaller -storage-size or another -work directory", dir, free>>20, need>>20)
	}
	return nil
}

// fsType names the file system dir is on, for the report.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "an unknown file system"
	}
	names := map[int64]string{
		0xEF53:     "ext2/3/4",
		0x58465342: "xfs",
		0x9123683E: "btrfs",
		0x01021994: "tmpfs (memory: fsync does nothing)",
		0x794C7630: "overlayfs",
		0x6969:     "nfs",
		0x2FC12FC1: "zfs",
		0x65735546: "fuse",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("file system type %#x", int64(st.Type))
}

// storageFigure is one row of a phase in the report.
type storageFigure struct {
	name    string
	value   func(phaseResult) float64
	cell    func(float64) string
	noRatio bool // a time, not a throughput: the sides are given, no ratio
}

// figures are the rows the report gives for the phase: throughput, and for
// write phases also the throughput before the fsync (what sealing costs
// without the disk) and the fsync's time.
func (ph storagePhase) figures() []storageFigure {
	if !ph.Write {
		return []storageFigure{{name: "MB/s", value: phaseResult.mbps, cell: rateCell}}
	}
	return []storageFigure{
		{name: "MB/s, fsync included", value: phaseResult.mbps, cell: rateCell},
		{name: "MB/s before the fsync", value: func(p phaseResult) float64 {
			return float64(p.Bytes) / (p.Took - p.Sync).Seconds() / 1e6
		}, cell: rateCell},
		{name: "fsync ms", value: func(p phaseResult) float64 {
			return float64(p.Sync) / float64(time.Millisecond)
		}, cell: msCell, noRatio: true},
	}
}

func (r *storageResults) write(w io.Writer) error {
	fmt.Fprintf(w, "\n## Storage: a sealed directory against a plain one, both in a keep\n\n")
	fmt.Fprintf(w, `%s in one keep (donjon run --backend nil) given two fresh directories on %s: --dir
(sealed: sealfs, AES-256-GCM per 4 KiB block, journaled writes) and --plain-dir (the host's files as they
are). In each, one file of %d MiB: sequential write (4 KiB write()s, then fsync); random write (%d
pwrite()s of 4 KiB at random aligned offsets, then fsync); sequential read (4 KiB read()s); random read
(%d pread()s of 4 KiB at random aligned offsets). The guest runs each phase on both files in turn, 64
operations at a time, and times each slice with the WASI monotonic clock: process start and module
loading are excluded, and the two sides are measured milliseconds apart. %d runs, the directory that
comes first (and is fsynced first) alternating. Both sides go through the host's page cache alike:
reads come from memory, writes reach the disk at the fsync. MB/s: 10^6 bytes a second, medians over
the runs. sealed/plain: each run's sealed throughput divided by its plain one, median and spread;
0.50x means the sealed directory runs at half the plain one's speed.

`, storageGuest, r.fsType, r.size>>20, r.ops, r.ops, r.reps)
	t := &table{header: []string{"phase", "figure", "plain", "sealed", "sealed/plain", "spread"}}
	for i, ph := range storagePhases {
		for _, f := range ph.figures() {
			plain, sealed, ratios := make([]float64, r.reps), make([]float64, r.reps), make([]float64, r.reps)
			for rep := range r.reps {
				plain[rep], sealed[rep] = f.value(r.plain[rep][i]), f.value(r.sealed[rep][i])
				ratios[rep] = sealed[rep] / plain[rep]
			}
			ratio, spread := "", ""
			if !f.noRatio {
				s := summarize(ratios)
				ratio, spread = ratioCell(s.Median), spreadCell(s)
			}
			t.add(ph.Label, f.name, f.cell(summarize(plain).Median), f.cell(summarize(sealed).Median), ratio, spread)
		}
	}
	if err := t.write(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nSealed and plain directories read back the same data in all %d runs (warm-up included).\n", r.checked)
	return err
}
