//go:build linux

package wasi_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"donjon.dev/sealfs"
	"donjon.dev/wasi/vfs"
)

// TestWASITestsuite runs the WebAssembly wasi-testsuite (branch
// prod/testsuite-base), preview 1 suites in C, Rust and AssemblyScript, in
// process on the wazero engine and this package. Point WASI_TESTSUITE at
// the suite's "tests" directory:
//
//	git --git-dir=/path/to/wasi-testsuite/.git archive prod/testsuite-base tests | tar -x -C /tmp/wts
//	WASI_TESTSUITE=/tmp/wts/tests go test ./wasi -run WASITestsuite
//
// Each test case runs as the suite's reference runner runs it: the JSON
// beside the module gives args, env and the directory to preopen as "/";
// stdin is a pipe that stays empty; the exit code must match, and stdout
// and stderr must start with the expected text (the runner reads only that
// many bytes). The preopened directory is a copy, without the suite's
// "*.cleanup" leftovers, so that the checkout is never modified and cases
// can run in parallel.
//
// Every case runs twice: under "plain", on a copy in a host directory
// (package hostfs), and under "sealed", on a copy in a sealed directory
// (package sealfs). Cases that need links cannot pass on a sealed
// directory; they are listed in sealedExpectedFailures, and one that passes
// there fails the test so that the list stays true.
func TestWASITestsuite(t *testing.T) {
	dir := os.Getenv("WASI_TESTSUITE")
	if dir == "" {
		t.Skip("WASI_TESTSUITE is not set: point it at the tests directory of a wasi-testsuite checkout (see docs/wasi.md)")
	}
	type suiteCase struct{ id, path string }
	var cases []suiteCase
	ids := map[string]bool{}
	for _, lang := range []string{"c", "rust", "assemblyscript"} {
		found, err := filepath.Glob(filepath.Join(dir, lang, "testsuite", "wasm32-wasip1", "*.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Fatalf("no %s tests under %s: is WASI_TESTSUITE the suite's tests directory?", lang, dir)
		}
		for _, path := range found {
			id := lang + "/" + strings.TrimSuffix(filepath.Base(path), ".wasm")
			cases = append(cases, suiteCase{id, path})
			ids[id] = true
		}
	}
	expected := sealedExpectedFailures()
	for id := range expected {
		if !ids[id] {
			t.Errorf("sealedExpectedFailures lists %s, which is not a case of this suite: remove it", id)
		}
	}

	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		for _, c := range cases {
			t.Run(c.id, func(t *testing.T) {
				t.Parallel()
				runSuiteCase(t, c.path, false).report(t)
			})
		}
	})
	t.Run("sealed", func(t *testing.T) {
		t.Parallel()
		for _, c := range cases {
			t.Run(c.id, func(t *testing.T) {
				t.Parallel()
				r := runSuiteCase(t, c.path, true)
				xf, listed := expected[c.id]
				switch {
				case !listed:
					r.report(t)
				case len(r.problems) == 0:
					t.Errorf("passes on a sealed directory, but sealedExpectedFailures lists it (%s): remove it from the list", xf.why)
				case !strings.Contains(r.stdout+r.stderr, xf.output):
					t.Errorf("fails on a sealed directory, but not as sealedExpectedFailures says (%s: output with %q)", xf.why, xf.output)
					r.report(t)
				default:
					t.Logf("expected failure on a sealed directory: %s: %s", c.id, xf.why)
				}
			})
		}
	})
}

// expectedFailure is a case that cannot pass on a sealed directory: why
// says why, and output is text its stdout or stderr must hold, so that it
// fails for that reason and not another.
type expectedFailure struct{ why, output string }

// sealedExpectedFailures are the cases, named lang/case, that fail on a
// sealed directory by design: it refuses symbolic and hard links with
// EPERM (docs/sealfs.md). Each one's output is the guest's panic message
// for the call that got EPERM. Cases that try a link and go on without it
// when refused (dangling_symlink, symlink_loop, ...) pass and are not here.
func sealedExpectedFailures() map[string]expectedFailure {
	const symlink = "needs path_symlink, which a sealed directory refuses"
	const perm = `: Errno { code: 63, name: "PERM"`
	return map[string]expectedFailure{
		"rust/nofollow_errors":  {symlink, "creating a symlink" + perm},
		"rust/path_exists":      {symlink, "create symlink" + perm},
		"rust/readlink":         {symlink, "creating a symlink" + perm},
		"rust/symlink_create":   {symlink, "creating a symlink" + perm},
		"rust/symlink_filestat": {symlink, "creating symlink to a file" + perm},
		"rust/path_link":        {"needs path_link (hard links), which a sealed directory refuses", "creating a link in the same directory" + perm},
	}
}

// suiteSpec is the legacy test specification of wasi-testsuite
// (doc/specification.md).
type suiteSpec struct {
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env"`
	Root       *string           `json:"root"`
	ExitCode   uint32            `json:"exit_code"`
	Stdout     string            `json:"stdout"`
	Stderr     string            `json:"stderr"`
	Operations json.RawMessage   `json:"operations"`
}

// suiteResult is how a case went: problems is empty when it passed.
type suiteResult struct {
	problems       []string
	stdout, stderr string
}

// report fails t with r's problems, if any.
func (r suiteResult) report(t *testing.T) {
	t.Helper()
	if len(r.problems) == 0 {
		return
	}
	for _, p := range r.problems {
		t.Error(p)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
}

// runSuiteCase runs the case wasmPath on a plain or a sealed copy of its
// directory. What the suite checks comes back as problems, for the caller
// to judge; anything else that goes wrong, including damage to the sealed
// directory, fails t.
func runSuiteCase(t *testing.T, wasmPath string, sealed bool) suiteResult {
	var spec suiteSpec
	if b, err := os.ReadFile(strings.TrimSuffix(wasmPath, ".wasm") + ".json"); err == nil {
		if err := json.Unmarshal(b, &spec); err != nil {
			t.Fatalf("test specification: %v", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if spec.Operations != nil {
		t.Fatal("operation-based specifications are not supported by this runner")
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}

	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)

	g := guestRun{
		name:      filepath.Base(wasmPath),
		args:      spec.Args,
		env:       env,
		openStdin: true,
		timeout:   2 * time.Minute,
	}
	check := func() {}
	if spec.Root != nil {
		src := filepath.Join(filepath.Dir(wasmPath), *spec.Root)
		if sealed {
			var root vfs.Dir
			root, check = sealedCopy(t, src)
			g.vdirs = map[string]vfs.Dir{"/": root}
		} else {
			g.dirs = map[string]string{"/": copyTree(t, src)}
		}
	}
	code, stdout, stderr, runErr := g.try(t, wasm, "")
	check()
	r := suiteResult{stdout: stdout, stderr: stderr}
	if runErr != nil {
		r.problems = append(r.problems, runErr.Error())
	}
	if code != spec.ExitCode {
		r.problems = append(r.problems, fmt.Sprintf("exit code %d, want %d", code, spec.ExitCode))
	}
	if !strings.HasPrefix(stdout, spec.Stdout) {
		r.problems = append(r.problems, fmt.Sprintf("stdout %q does not start with %q", stdout, spec.Stdout))
	}
	if !strings.HasPrefix(stderr, spec.Stderr) {
		r.problems = append(r.problems, fmt.Sprintf("stderr %q does not start with %q", stderr, spec.Stderr))
	}
	return r
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// drain reads r to its end in the background.
func drain(r io.Reader) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		ch <- b
	}()
	return ch
}

// copyTree copies the directory src into a temporary directory, leaving out
// "*.cleanup" files, and returns the copy.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(d.Name(), ".cleanup") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, to)
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// sealedCopy creates a sealed directory with a random key and copies src
// into it, leaving out "*.cleanup" files, through the vfs.Dir interface as
// a guest would write it. It returns the sealed directory, opened afresh so
// that the guest reads what was stored rather than what the copy left
// cached, and check, to call once the guest has ended and closed it: check
// reopens the directory with the same key and reads every file back, and
// fails t if that fails or if sealfs logged anything (an authentication
// failure, or recovery from an update left half done).
func sealedCopy(t *testing.T, src string) (root vfs.Dir, check func()) {
	t.Helper()
	host := t.TempDir()
	key := make([]byte, sealfs.KeySize)
	rand.Read(key)
	var logs logBuffer
	opts := sealfs.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}

	d, err := sealfs.Open(host, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	err = copyIntoSealed(d, src)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("sealing a copy of %s: %v", src, err)
	}
	if d, err = sealfs.Open(host, key, opts); err != nil {
		t.Fatalf("reopening the sealed copy of %s: %v", src, err)
	}
	return d, func() {
		t.Helper()
		if d, err := sealfs.Open(host, key, opts); err != nil {
			t.Errorf("reopening the sealed directory after the guest: %v", err)
		} else {
			err := readSealed(d, "")
			if cerr := d.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Errorf("reading the sealed directory back after the guest: %v", err)
			}
		}
		if s := logs.String(); s != "" {
			t.Errorf("sealfs logged, which it does only for damage or recovery:\n%s", s)
		}
	}
}

// copyIntoSealed copies the host directory src into d.
func copyIntoSealed(d vfs.Dir, src string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		if strings.HasSuffix(e.Name(), ".cleanup") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case e.IsDir():
			err = d.Mkdir(rel)
		case e.Type()&fs.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(path); err == nil {
				err = d.Symlink(link, rel)
			}
		case e.Type().IsRegular():
			err = copyFileIntoSealed(d, path, rel)
		default:
			err = fmt.Errorf("%s is a %v, which the copy does not handle", path, e.Type())
		}
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
}

func copyFileIntoSealed(d vfs.Dir, hostPath, rel string) error {
	b, err := os.ReadFile(hostPath)
	if err != nil {
		return err
	}
	n, err := d.Open(rel, vfs.OpenWrite|vfs.OpenCreate|vfs.OpenExclusive)
	if err != nil {
		return err
	}
	f, ok := n.(vfs.File)
	if !ok {
		n.Close()
		return fmt.Errorf("opened as a %v, not a file", n.Type())
	}
	for len(b) > 0 && err == nil {
		var w int
		w, err = f.Writev([][]byte{b})
		if w == 0 && err == nil {
			err = io.ErrShortWrite
		}
		b = b[w:]
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readSealed reads everything in d, whose path from the sealed root is
// path ("" for the root): every directory listed, every file read to its
// end and its length checked against its size.
func readSealed(d vfs.Dir, path string) error {
	ents := make([]vfs.Dirent, 16)
	for {
		n, err := d.ReadDir(ents)
		for _, e := range ents[:n] {
			if err := readSealedEntry(d, path, e); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || err == nil && n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing %q: %w", "/"+path, err)
		}
	}
}

func readSealedEntry(d vfs.Dir, dir string, e vfs.Dirent) error {
	path := e.Name
	if dir != "" {
		path = dir + "/" + e.Name
	}
	switch e.Type {
	case vfs.TypeDirectory:
		n, err := d.Open(e.Name, vfs.OpenRead|vfs.OpenDirectory)
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		sub, ok := n.(vfs.Dir)
		if !ok {
			n.Close()
			return fmt.Errorf("%s is listed as a directory but opens as a %v", path, n.Type())
		}
		err = readSealed(sub, path)
		if cerr := sub.Close(); err == nil {
			err = cerr
		}
		return err
	case vfs.TypeRegularFile:
		n, err := d.Open(e.Name, vfs.OpenRead)
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		f, ok := n.(vfs.File)
		if !ok {
			n.Close()
			return fmt.Errorf("%s is listed as a file but opens as a %v", path, n.Type())
		}
		err = readSealedFile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		return nil
	default:
		return fmt.Errorf("%s is a %v: a sealed directory holds only files and directories", path, e.Type)
	}
}

func readSealedFile(f vfs.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	var total uint64
	for {
		n, err := f.Readv([][]byte{buf})
		total += uint64(n)
		if errors.Is(err, io.EOF) || err == nil && n == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	if total != st.Size {
		return fmt.Errorf("read %d bytes, but its size is %d", total, st.Size)
	}
	return nil
}

// logBuffer collects what a slog handler writes, from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
