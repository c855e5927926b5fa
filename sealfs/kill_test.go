//go:build linux

package sealfs

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"donjon.dev/wasi/vfs"
)

// The kill test runs this test binary again as a child that updates a
// sealed directory in a loop, logging each operation before and after it
// to fd 3, and kills it with SIGKILL at a random moment.
const (
	envKillDir  = "SEALFS_KILL_CHILD"
	envKillSeed = "SEALFS_KILL_SEED"
	envKillVer  = "SEALFS_KILL_VER"
)

func TestMain(m *testing.M) {
	if host := os.Getenv(envKillDir); host != "" {
		os.Exit(killChild(host))
	}
	os.Exit(m.Run())
}

// killOp is one logged operation.
type killOp struct {
	kind     byte // W write, T truncate, R rename (file or directory), C create, U unlink
	path, to string
	off, n   int
	ver      int
}

func (o killOp) String() string {
	return fmt.Sprintf("%c %s %s %d %d %d", o.kind, o.path, o.to, o.off, o.n, o.ver)
}

func parseKillOp(s string) (killOp, error) {
	f := strings.Fields(s)
	if len(f) != 6 || len(f[0]) != 1 {
		return killOp{}, fmt.Errorf("bad op %q", s)
	}
	o := killOp{kind: f[0][0], path: f[1], to: f[2]}
	var err error
	for i, p := range []*int{&o.off, &o.n, &o.ver} {
		if *p, err = strconv.Atoi(f[3+i]); err != nil {
			return o, err
		}
	}
	return o, nil
}

// model is a tree as the test expects it: directories and file contents.
type model struct {
	dirs  map[string]bool
	files map[string][]byte
}

func (m model) clone() model {
	c := model{dirs: map[string]bool{}, files: map[string][]byte{}}
	for k := range m.dirs {
		c.dirs[k] = true
	}
	for k, v := range m.files {
		c.files[k] = slices.Clone(v)
	}
	return c
}

func (m model) apply(o killOp) {
	switch o.kind {
	case 'W':
		b := m.files[o.path]
		if len(b) < o.off+o.n {
			b = append(b, make([]byte, o.off+o.n-len(b))...)
		}
		copy(b[o.off:], pattern(o.ver, o.off, o.n))
		m.files[o.path] = b
	case 'T':
		b := m.files[o.path]
		if o.n <= len(b) {
			b = b[:o.n]
		} else {
			b = append(b, make([]byte, o.n-len(b))...)
		}
		m.files[o.path] = b
	case 'C':
		m.files[o.path] = []byte{}
	case 'U':
		delete(m.files, o.path)
	case 'R':
		if m.dirs[o.path] {
			delete(m.dirs, o.path)
			m.dirs[o.to] = true
			for p, b := range m.files {
				if strings.HasPrefix(p, o.path+"/") {
					delete(m.files, p)
					m.files[o.to+p[len(o.path):]] = b
				}
			}
		} else {
			m.files[o.to] = m.files[o.path]
			delete(m.files, o.path)
		}
	}
}

func (m model) String() string {
	var lines []string
	for d := range m.dirs {
		lines = append(lines, d+"/")
	}
	for p, b := range m.files {
		lines = append(lines, fmt.Sprintf("%s %q", p, b))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// killChild updates the sealed directory until it is killed.
func killChild(host string) int {
	seed, _ := strconv.ParseUint(os.Getenv(envKillSeed), 10, 64)
	ver, _ := strconv.Atoi(os.Getenv(envKillVer))
	logf := bufio.NewWriterSize(os.NewFile(3, "log"), 256)
	d, err := Open(host, testKey(1), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Find the tree as the previous child left it.
	sub := "sub"
	if _, err := d.StatAt("subx", false); err == nil {
		sub = "subx"
	}
	var files []string
	for _, dir := range []string{"", sub + "/"} {
		var names []string
		n, err := d.Open(dir+".", vfs.OpenRead)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		ents := make([]vfs.Dirent, 64)
		k, _ := n.(vfs.Dir).ReadDir(ents)
		for _, e := range ents[:k] {
			if e.Type == vfs.TypeRegularFile && e.Name != "tmp" {
				names = append(names, dir+e.Name)
			}
		}
		n.Close()
		files = append(files, names...)
	}
	sort.Strings(files)
	rng := rand.New(rand.NewPCG(seed, 1))
	fmt.Fprintln(logf, "ready")
	logf.Flush()
	run := func(o killOp) {
		fmt.Fprintf(logf, "B %s\n", o)
		logf.Flush()
		var err error
		switch o.kind {
		case 'W':
			err = writeAtPath(d, o.path, pattern(o.ver, o.off, o.n), int64(o.off))
		case 'T':
			var n vfs.Node
			if n, err = d.Open(o.path, vfs.OpenWrite); err == nil {
				err = n.(vfs.File).Truncate(int64(o.n))
				n.Close()
			}
		case 'C':
			var n vfs.Node
			if n, err = d.Open(o.path, vfs.OpenWrite|vfs.OpenCreate|vfs.OpenExclusive); err == nil {
				n.Close()
			}
		case 'U':
			err = d.Unlink(o.path)
		case 'R':
			err = d.Rename(o.path, d, o.to)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", o, err)
			os.Exit(3)
		}
		fmt.Fprintln(logf, "E")
		logf.Flush()
	}
	if _, err := d.StatAt("tmp", false); err == nil {
		run(killOp{kind: 'U', path: "tmp", to: "-"})
	}
	for {
		ver++
		i := rng.IntN(len(files))
		st, err := d.StatAt(files[i], false)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		size := int(st.Size)
		switch r := rng.IntN(20); {
		case r < 12: // a write anywhere, up to 20 blocks, past the end at times
			off := rng.IntN(size + 2*BlockSize)
			run(killOp{kind: 'W', path: files[i], to: "-", off: off, n: 1 + rng.IntN(20*BlockSize), ver: ver})
		case r < 14:
			run(killOp{kind: 'T', path: files[i], to: "-", n: rng.IntN(40 * BlockSize)})
		case r < 16: // rename a file to its other name
			to := files[i] + "x"
			if strings.HasSuffix(files[i], "x") {
				to = strings.TrimSuffix(files[i], "x")
			}
			run(killOp{kind: 'R', path: files[i], to: to})
			files[i] = to
		case r < 18: // replace a file atomically, as editors do
			run(killOp{kind: 'C', path: "tmp", to: "-"})
			run(killOp{kind: 'W', path: "tmp", to: "-", n: 1 + rng.IntN(6*BlockSize), ver: ver})
			run(killOp{kind: 'R', path: "tmp", to: files[i]})
		default: // rename the subdirectory
			to := map[string]string{"sub": "subx", "subx": "sub"}[sub]
			run(killOp{kind: 'R', path: sub, to: to})
			for j, f := range files {
				if strings.HasPrefix(f, sub+"/") {
					files[j] = to + f[len(sub):]
				}
			}
			sub = to
		}
	}
}

func writeAtPath(d vfs.Dir, path string, data []byte, off int64) error {
	n, err := d.Open(path, vfs.OpenWrite)
	if err != nil {
		return err
	}
	defer n.Close()
	_, err = n.(vfs.File).Pwritev([][]byte{data}, off)
	return err
}

// TestKillDuringWrites kills a child process at random moments while it
// writes, truncates and renames in a sealed directory, then opens the
// directory and checks that the tree is exactly as before or as after the
// operation in progress: every file decrypts, each update is whole or
// absent.
func TestKillDuringWrites(t *testing.T) {
	host := t.TempDir()
	d, err := Open(host, testKey(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := model{dirs: map[string]bool{"sub": true}, files: map[string][]byte{}}
	d.Mkdir("sub")
	for _, p := range []string{"f0", "f1", "f2", "sub/f3", "sub/f4"} {
		mustWrite(t, d, p, pattern(0, 0, 3*BlockSize))
		m.files[p] = pattern(0, 0, 3*BlockSize)
	}
	d.Close()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	rounds := killRounds
	ver, interrupted, midway, total := 0, 0, 0, 0
	for round := range rounds {
		ops, pending := runAndKill(t, host, rng.Uint64(), ver, time.Duration(rng.IntN(25))*time.Millisecond)
		for _, o := range ops {
			m.apply(o)
			ver = max(ver, o.ver)
		}
		total += len(ops)
		before := m.clone()
		after := m.clone()
		if pending != nil {
			midway++
			after.apply(*pending)
			ver = max(ver, pending.ver)
		}
		d, err := Open(host, testKey(1), Options{})
		if err != nil {
			t.Fatalf("round %d: Open after the kill: %v", round, err)
		}
		got, err := snapshot(d)
		d.Close()
		if err != nil {
			t.Fatalf("round %d: reading the tree after the kill (pending %v): %v", round, pending, err)
		}
		switch {
		case got == before.String():
		case pending != nil && got == after.String():
			m = after
			interrupted++
		default:
			t.Fatalf("round %d: the tree is neither before nor after %v:\n%s\nbefore:\n%s\nafter:\n%s",
				round, pending, trunc(got), trunc(before.String()), trunc(after.String()))
		}
	}
	t.Logf("%d rounds, %d operations completed; %d kills during an operation, of which %d found it applied", rounds, total, midway, interrupted)
	if total == 0 {
		t.Fatal("the children did nothing")
	}
}

func trunc(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 120 {
			l = l[:120] + fmt.Sprintf("... (%d)", len(l))
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// runAndKill runs one child, kills it after delay once it is ready, and
// returns the operations it completed and the one in progress, if any.
func runAndKill(t *testing.T, host string, seed uint64, ver int, delay time.Duration) ([]killOp, *killOp) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envKillDir+"="+host, envKillSeed+"="+strconv.FormatUint(seed, 10), envKillVer+"="+strconv.Itoa(ver+1))
	cmd.ExtraFiles = []*os.File{w}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	lines := make(chan string, 1<<16)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child did not start: %q %s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child did not start in time")
	}
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child ended by itself: %v\n%s", err, stderr.String())
	}
	for l := range lines {
		log = append(log, l)
	}
	var done []killOp
	var pending *killOp
	for _, l := range log {
		switch {
		case strings.HasPrefix(l, "B "):
			o, err := parseKillOp(l[2:])
			if err != nil {
				t.Fatal(err)
			}
			pending = &o
		case l == "E" && pending != nil:
			done = append(done, *pending)
			pending = nil
		default:
			t.Fatalf("bad log line %q", l)
		}
	}
	return done, pending
}
