//go:build linux

package wasi_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"donjon.dev/engine"
	"donjon.dev/engine/wazero"
	"donjon.dev/wasi"
	"donjon.dev/wasi/hostfs"
	"donjon.dev/wasi/vfs"
)

// buildGuest builds testdata/guest for GOOS=wasip1 with the go command
// running the tests.
func buildGuest(t *testing.T) []byte {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the test guest with")
	}
	out := filepath.Join(t.TempDir(), "guest.wasm")
	cmd := exec.Command(goCmd, "build", "-o", out, "./testdata/guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the guest: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

type guestRun struct {
	name  string // argv[0]; "guest.wasm" when empty
	args  []string
	env   []string
	stdin func(w *os.File) // writes the guest's stdin, then closes w
	// openStdin leaves stdin an empty pipe that never ends, when stdin is
	// nil; otherwise stdin is at end of file.
	openStdin bool
	dirs      map[string]string // guest path to host directory, opened with hostfs
	// vdirs are directories already open, preopened under their guest
	// paths; the System takes them over and closes them.
	vdirs   map[string]vfs.Dir
	timeout time.Duration // one minute when zero
	code    uint32
	stdout  string
}

// run runs the guest on wazero with a System, stdin, stdout and stderr
// being pipes. A guest that traps fails the test.
func (g guestRun) run(t *testing.T, wasm []byte, cache string) (code uint32, stdout, stderr string) {
	t.Helper()
	code, stdout, stderr, err := g.try(t, wasm, cache)
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	return code, stdout, stderr
}

// try is run that returns a trap (anything that ends the guest other than
// an exit) as an error, for callers that expect some guests to fail.
func (g guestRun) try(t *testing.T, wasm []byte, cache string) (code uint32, stdout, stderr string, err error) {
	t.Helper()
	stdinR, stdinW := pipe(t)
	stdoutR, stdoutW := pipe(t)
	stderrR, stderrW := pipe(t)
	outc, errc := drain(stdoutR), drain(stderrR)
	switch {
	case g.stdin != nil:
		go g.stdin(stdinW)
	case g.openStdin:
		defer stdinW.Close()
	default:
		stdinW.Close()
	}
	fds := []wasi.FD{
		wasi.Stream(stdinR, true, false),
		wasi.Stream(stdoutW, false, true),
		wasi.Stream(stderrW, false, true),
	}
	for guestPath, hostPath := range g.dirs {
		d, err := hostfs.Open(hostPath)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, wasi.Preopen(guestPath, d))
	}
	for guestPath, d := range g.vdirs {
		fds = append(fds, wasi.Preopen(guestPath, d))
	}
	name := cmp.Or(g.name, "guest.wasm")
	sys, err := wasi.New(wasi.Config{Args: append([]string{name}, g.args...), Env: g.env, FDs: fds})
	if err != nil {
		t.Fatal(err)
	}
	// Closing the System closes the preopened directories: a sealed one
	// reports there what it could not finish.
	defer func() {
		if err := sys.Close(); err != nil {
			t.Errorf("closing the guest's descriptors: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(g.timeout, time.Minute))
	defer cancel()
	eng, err := wazero.New(ctx, engine.Config{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := eng.Instantiate(ctx, mod, sys.Module())
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(ctx)
	runErr := inst.Call(ctx, "_start")
	stdoutW.Close()
	stderrW.Close()
	stdout, stderr = string(<-outc), string(<-errc)
	var exit *engine.ExitError
	switch {
	case errors.As(runErr, &exit):
		code = exit.Code
	case runErr != nil:
		return 0, stdout, stderr, fmt.Errorf("guest failed: %w", runErr)
	}
	return code, stdout, stderr, nil
}

func TestGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles a Go guest")
	}
	wasm := buildGuest(t)
	cache := t.TempDir()
	data := t.TempDir()
	cases := map[string]guestRun{
		"fs": {
			args: []string{"fs"},
			dirs: map[string]string{"/data": data},
			stdout: `read "hello\n"
link -> a/b/hi.txt
size through link: 6 true
entry a true false
entry link false true
through link "hello\nagain\n"
open through a link out: ENOTCAPABLE
stat a link out: ENOTCAPABLE
lstat a link out: ok
symlink to an absolute path: ENOTCAPABLE
open outside every preopen: Bad file number
open missing: No such file or directory
remove non-empty: Directory not empty
after remove all: No such file or directory
wrote 1048576
`,
		},
		"stdin": {
			args: []string{"stdin"},
			stdin: func(w *os.File) {
				w.Write([]byte("hello\n"))
				time.Sleep(20 * time.Millisecond) // the guest waits in fd_read meanwhile
				w.Write([]byte("world\n"))
				w.Close()
			},
			stdout: "HELLO\nWORLD\nEOF <nil>\n",
		},
		"sleep": {args: []string{"sleep"}, stdout: "slept at least 20ms: true\n"},
		"env": {
			args:   []string{"env", "a b", "", "c"},
			env:    []string{"B=2", "A=1"},
			stdout: "a b||c\nA=1|B=2\n",
		},
		"exit": {args: []string{"exit"}, code: 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := c.run(t, wasm, cache)
			if code != c.code || stdout != c.stdout {
				t.Errorf("exit code %d, stdout:\n%s\nwant exit code %d, stdout:\n%s\nstderr:\n%s", code, stdout, c.code, c.stdout, stderr)
			}
		})
	}
	// What the fs guest left on the host.
	if fi, err := os.Stat(filepath.Join(data, "big")); err != nil || fi.Size() != 1<<20 {
		t.Errorf("big: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(data, "out")); err != nil || l != "../.." {
		t.Errorf("the link out: %q %v", l, err)
	}
	for _, gone := range []string{"a", "abs", "hello.txt"} {
		if _, err := os.Lstat(filepath.Join(data, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v", gone, err)
		}
	}
	if strings.Contains(cases["env"].stdout, "PATH=") {
		t.Error("the host environment leaked in")
	}
}
