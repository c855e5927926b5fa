//go:build linux

package wasi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
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
func TestWASITestsuite(t *testing.T) {
	dir := os.Getenv("WASI_TESTSUITE")
	if dir == "" {
		t.Skip("WASI_TESTSUITE is not set: point it at the tests directory of a wasi-testsuite checkout (see docs/wasi.md)")
	}
	var cases []string
	for _, lang := range []string{"c", "rust", "assemblyscript"} {
		found, err := filepath.Glob(filepath.Join(dir, lang, "testsuite", "wasm32-wasip1", "*.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Fatalf("no %s tests under %s: is WASI_TESTSUITE the suite's tests directory?", lang, dir)
		}
		cases = append(cases, found...)
	}
	for _, path := range cases {
		lang := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(path))))
		name := strings.TrimSuffix(filepath.Base(path), ".wasm")
		t.Run(lang+"/"+name, func(t *testing.T) {
			t.Parallel()
			runSuiteCase(t, path)
		})
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

func runSuiteCase(t *testing.T, wasmPath string) {
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
	if spec.Root != nil {
		g.dirs = map[string]string{"/": copyTree(t, filepath.Join(filepath.Dir(wasmPath), *spec.Root))}
	}
	code, stdout, stderr := g.run(t, wasm, "")
	out, errOut := []byte(stdout), []byte(stderr)
	if code != spec.ExitCode {
		t.Errorf("exit code %d, want %d", code, spec.ExitCode)
	}
	if !bytes.HasPrefix(out, []byte(spec.Stdout)) {
		t.Errorf("stdout %q does not start with %q", out, spec.Stdout)
	}
	if !bytes.HasPrefix(errOut, []byte(spec.Stderr)) {
		t.Errorf("stderr %q does not start with %q", errOut, spec.Stderr)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
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
