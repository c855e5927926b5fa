package main

// End-to-end tests of a real store in a sealed directory: examples/kv-go
// runs BuntDB (github.com/tidwall/buntdb, which nobody here wrote) in a keep.
// Its append-only file must come back whole after restarts, a shrink (which
// renames a new file over the old one) and SIGKILLs in the middle of a
// write, while the host holds none of its keys or values in plaintext.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"donjon.dev/internal/testguest"
)

// kvStore runs kv-go with one host directory as /data.
type kvStore struct {
	t       *testing.T
	wasm    string
	dirFlag string // "--dir" (sealed) or "--plain-dir"
	dir     string
	devKey  string
	env     []string
}

func (s kvStore) run(args ...string) result {
	s.t.Helper()
	return donjon(s.t, "", s.env, append([]string{"run", "--dev-key", s.devKey, s.dirFlag, s.dir + ":/data", s.wasm}, args...)...)
}

// ok runs a command that must succeed and returns its output.
func (s kvStore) ok(args ...string) string {
	s.t.Helper()
	r := s.run(args...)
	if r.code != 0 {
		s.t.Fatalf("kv-go %v: %v", args, r)
	}
	return r.stdout
}

// checkFills runs kv-go check n and returns how many fill keys the store
// holds in all.
func (s kvStore) checkFills(n int) int {
	s.t.Helper()
	out := s.ok("check", strconv.Itoa(n))
	m := regexp.MustCompile(`^checked (\d+) keys: all correct \((\d+) fill keys in the store\)\n$`).FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(n) {
		s.t.Fatalf("check %d: %q", n, out)
	}
	total, _ := strconv.Atoi(m[2])
	return total
}

// kvFill is what kv-go's fill writes for key i, computed here on its own.
func kvFill(i int) (key, value string) {
	var b []byte
	for part := range 8 {
		sum := sha256.Sum256(fmt.Appendf(nil, "kv-go value %d.%d", i, part))
		b = append(b, sum[:]...)
	}
	return fmt.Sprintf("key%06d", i), hex.EncodeToString(b)
}

// TestKVStoreSurvivesRestarts runs the same sequence on a sealed and on a
// plain directory: fill, restart and check, overwrite and delete, shrink,
// restart and check again. Then it scans the raw host files: the plain one
// holds every key and value, the sealed one none.
func TestKVStoreSurvivesRestarts(t *testing.T) {
	const n = 2000
	wasm := testguest.Build(t, "examples/kv-go")
	devKey := newDevKey(t)
	// One compiled-code cache for all runs: compiling kv-go takes seconds.
	env := []string{"XDG_CACHE_HOME=" + cacheHome(t)}
	var needles []string
	for i := range n {
		k, v := kvFill(i)
		needles = append(needles, k, v[:32])
	}
	needles = append(needles, "colour", "vermilion")
	dropped := []string{"ultramarine", "scratch-key", "temporary-value"}

	sealed := t.TempDir()
	for _, flag := range []string{"--dir", "--plain-dir"} {
		t.Run(strings.TrimPrefix(flag, "--"), func(t *testing.T) {
			s := kvStore{t: t, wasm: wasm, dirFlag: flag, dir: t.TempDir(), devKey: devKey, env: env}
			if flag == "--dir" {
				s.dir = sealed
			}
			if out := s.ok("fill", strconv.Itoa(n)); out != fmt.Sprintf("wrote %d keys\n", n) {
				t.Fatalf("fill: %q", out)
			}
			if total := s.checkFills(n); total != n {
				t.Fatalf("%d fill keys after one fill of %d", total, n)
			}
			s.ok("set", "colour", "ultramarine")
			s.ok("set", "colour", "vermilion")
			s.ok("set", "scratch-key", "temporary-value")
			s.ok("del", "scratch-key")
			// Writing every key again doubles the file: shrink must halve it.
			s.ok("fill", strconv.Itoa(n))
			before := hostBytes(t, s.dir)
			s.ok("shrink")
			after := hostBytes(t, s.dir)
			if after >= before*3/4 {
				t.Errorf("shrink left %d bytes on the host of %d", after, before)
			}
			if entries := hostEntries(t, s.dir); len(entries) != 1 {
				t.Errorf("host files after shrink: %v, want one (kv.db)", entries)
			}

			// A fresh keep reads everything back.
			if total := s.checkFills(n); total != n {
				t.Errorf("%d fill keys after shrink, want %d", total, n)
			}
			r := s.run("get", "scratch-key")
			if r.code != 1 || !strings.Contains(r.stderr, `kv-go: no key "scratch-key"`) {
				t.Errorf("get of a deleted key: %v", r)
			}
			lines := strings.Split(strings.TrimSuffix(s.ok("list"), "\n"), "\n")
			key0, value0 := kvFill(0)
			last, valueLast := kvFill(n - 1)
			if len(lines) != n+1 || lines[0] != "colour=vermilion" || lines[1] != key0+"="+value0 || lines[n] != last+"="+valueLast {
				t.Errorf("list: %d lines, want %d; first %.50q, %.50q, last %.50q", len(lines), n+1, lines[0], lines[1], lines[len(lines)-1])
			}

			found := findNeedles(readTree(t, s.dir), append(needles, dropped...))
			if flag == "--dir" {
				for needle, file := range found {
					t.Errorf("%q is in plaintext on the host, in %s", needle, file)
				}
				return
			}
			// The same scan finds every live key and value in the plain
			// file, and nothing the shrink dropped.
			for _, needle := range needles {
				if found[needle] == "" {
					t.Fatalf("%q is not in the plain directory: the scan cannot find plaintext", needle)
				}
			}
			for _, needle := range dropped {
				if file := found[needle]; file != "" {
					t.Errorf("%q survived the shrink, in %s", needle, file)
				}
			}
			// check sees a changed value.
			db := filepath.Join(s.dir, "kv.db")
			raw, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			_, v7 := kvFill(7)
			changed := strings.Replace(v7, v7[:1], "x", 1)
			if err := os.WriteFile(db, bytes.Replace(raw, []byte(v7), []byte(changed), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			if r := s.run("check", strconv.Itoa(n)); r.code != 1 || !strings.Contains(r.stderr, "1 keys have wrong values, first key000007") {
				t.Errorf("check of a changed value: %v", r)
			}
		})
	}
	if t.Failed() {
		return
	}

	// Only this workload, at this guest path, with this key opens the
	// sealed directory; the refusals leave it intact.
	t.Run("wrong-key", func(t *testing.T) {
		for name, args := range map[string][]string{
			"another dev key": {"--dev-key", newDevKey(t), "--dir", sealed + ":/data", wasm, "list"},
			"another module":  {"--dev-key", devKey, "--dir", sealed + ":/data", testguest.Build(t, "examples/notes-go"), "list"},
			"another path":    {"--dev-key", devKey, "--dir", sealed + ":/kv", wasm, "-db", "/kv/kv.db", "list"},
		} {
			r := donjon(t, "", env, append([]string{"run"}, args...)...)
			if r.code != exitDonjon || !strings.Contains(r.stderr, "wrong key") || r.stdout != "" {
				t.Errorf("%s: want exit %d and \"wrong key\", got %v", name, exitDonjon, r)
			}
		}
		s := kvStore{t: t, wasm: wasm, dirFlag: "--dir", dir: sealed, devKey: devKey, env: env}
		s.checkFills(n)
	})
}

// TestKVKillMidFill SIGKILLs donjon and its keep while kv-go writes one big
// transaction (which sealfs splits into updates of 64 blocks), at a random
// point of the write, then reopens the store: BuntDB drops a torn tail
// itself, so it must load, and every key committed before must be there
// with its value, as must every key of the interrupted fill it kept.
func TestKVKillMidFill(t *testing.T) {
	const committed, big = 1000, 6000
	wasm := testguest.Build(t, "examples/kv-go")
	env := []string{"XDG_CACHE_HOME=" + cacheHome(t)}
	base := kvStore{t: t, wasm: wasm, dirFlag: "--dir", dir: t.TempDir(), devKey: newDevKey(t), env: env}
	base.ok("fill", strconv.Itoa(committed))
	entries := hostEntries(t, base.dir)
	if len(entries) != 1 {
		t.Fatalf("sealed entries after a fill: %v, want kv.db alone", entries)
	}
	baseSize := hostBytes(t, base.dir)

	const attempts = 3
	kills, torn := 0, 0
	for attempt := range attempts {
		// Each attempt starts from a copy of the committed volume (a volume
		// is bound to its key, not to where the host keeps it), so the file
		// to reload stays small.
		s := base
		s.dir = t.TempDir()
		copyTree(t, base.dir, s.dir)
		rel, _ := filepath.Rel(base.dir, entries[0])
		// Kill once the host file has grown by a random part of what the
		// fill writes (about 560 bytes a key), or at its first update.
		grow := rand.Int64N(int64(big) * 500)
		if attempt == 0 {
			grow = 0
		}
		killed, err := killDuringWrite(t, s, filepath.Join(s.dir, rel), baseSize+grow, "fill", strconv.Itoa(big), strconv.Itoa(committed))
		if err != nil {
			t.Fatal(err)
		}
		total := s.checkFills(committed)
		if total < committed || total > committed+big || (!killed && total != committed+big) {
			t.Fatalf("attempt %d: %d fill keys after the fill, want %d to %d", attempt, total, committed, committed+big)
		}
		if killed {
			kills++
		}
		if total < committed+big {
			torn++
		}
		t.Logf("attempt %d: killed %v after %d bytes: %d of the fill's %d keys kept", attempt, killed, grow, total-committed, big)
		if attempt == attempts-1 {
			// The store takes writes after the tail BuntDB cut, and keeps them.
			s.ok("set", "after", "the-kill")
			if got := s.ok("get", "after"); got != "the-kill\n" {
				t.Errorf("get after a write past the cut: %q", got)
			}
		}
	}
	if kills == 0 {
		t.Fatal("every fill finished before the kill: nothing was tested")
	}
	t.Logf("%d kills, %d of them mid-write", kills, torn)
}

// killDuringWrite starts kv-go in its own process group, waits for the
// sealed volume's first journal write and for the host file entry to reach
// size bytes, and SIGKILLs the whole group (donjon and the keep). It reports
// whether the kill came before donjon exited, and returns once the keep
// process is gone.
func killDuringWrite(t *testing.T, s kvStore, entry string, size int64, args ...string) (bool, error) {
	cmd := exec.Command(donjonBin, append([]string{"run", "--dev-key", s.devKey, "--dir", s.dir + ":/data", s.wasm}, args...)...)
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, s.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	journal := filepath.Join(s.dir, ".sealfs-journal")
	deadline := time.Now().Add(time.Minute)
	var err error
	exited := false
	for !exited {
		select {
		case err = <-done:
			exited = true
			continue
		default:
		}
		j, jerr := os.Stat(journal)
		e, eerr := os.Stat(entry)
		if jerr == nil && j.Size() > 0 && eerr == nil && e.Size() >= size {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return false, fmt.Errorf("kv-go %v did not write in a minute", args)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if !exited {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
		// The keep, orphaned now, may take a moment to die: wait until it
		// has released the volume's lock.
		if lerr := waitUnlocked(filepath.Join(s.dir, ".sealfs")); lerr != nil {
			return true, lerr
		}
	}
	if err == nil {
		return false, nil
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, nil
		}
	}
	return false, fmt.Errorf("kv-go %v: %v\n%s", args, err, out.String())
}

// waitUnlocked waits until nobody holds the flock on path.
func waitUnlocked(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := 0; ; i++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		if err != syscall.EWOULDBLOCK || i == 10000 {
			return fmt.Errorf("the killed keep still holds %s: %w", path, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// readTree reads every regular file under dir, keyed by its path under dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range regularFiles(t, dir) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, name)
		files[rel] = b
	}
	return files
}

// findNeedles maps each needle found in a file's path or bytes to that
// file. It slides one window per needle length over each file, so
// thousands of needles cost a few passes.
func findNeedles(files map[string][]byte, needles []string) map[string]string {
	byLen := map[int]map[string]bool{}
	for _, n := range needles {
		if byLen[len(n)] == nil {
			byLen[len(n)] = map[string]bool{}
		}
		byLen[len(n)][n] = true
	}
	found := map[string]string{}
	for name, b := range files {
		for _, data := range [][]byte{[]byte(name), b} {
			for l, set := range byLen {
				for i := 0; i+l <= len(data); i++ {
					if set[string(data[i:i+l])] {
						found[string(data[i:i+l])] = name
					}
				}
			}
		}
	}
	return found
}

// regularFiles lists the regular files under dir, the volume's own included.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// hostEntries lists the regular files under dir but the volume's own dot
// files: in a sealed directory, the host files of the guest's files.
func hostEntries(t *testing.T, dir string) []string {
	t.Helper()
	var entries []string
	for _, name := range regularFiles(t, dir) {
		if !strings.HasPrefix(filepath.Base(name), ".") {
			entries = append(entries, name)
		}
	}
	return entries
}

// hostBytes is the size of hostEntries.
func hostBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	for _, name := range hostEntries(t, dir) {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	return total
}

// copyTree copies the directories and regular files under src into dst: a
// sealed volume is bound to its key, not to where the host keeps it.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(to, info.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
