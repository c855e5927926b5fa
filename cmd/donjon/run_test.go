package main

// End-to-end tests: the real donjon binary runs real guests written in Go,
// C and Rust, in keep processes, as a user would run them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"donjon.dev/internal/testguest"
)

// donjonBin is the binary under test, built once by TestMain.
var donjonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "donjon-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	donjonBin = filepath.Join(dir, "donjon")
	build := exec.Command("go", "build", "-o", donjonBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build donjon:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// donjon runs the binary with a private cache directory and no host
// environment but what the test adds.
func donjon(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, donjonBin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + cacheHome(t)}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("donjon %v: %v", args, err)
	}
	return res
}

var sharedCache = map[string]string{}

// cacheHome is one compiled-code cache per test, shared by its runs.
func cacheHome(t *testing.T) string {
	if d, ok := sharedCache[t.Name()]; ok {
		return d
	}
	d := t.TempDir()
	sharedCache[t.Name()] = d
	return d
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

const nilWarning = "WARNING: backend nil: no isolation, no attestation; nothing in this keep is protected"

var languages = []string{"go", "c", "rust"}

// guest names the multi-command test guest of a language.
func guest(t *testing.T, lang string) string {
	if lang == "go" {
		return testguest.Build(t, "go")
	}
	return testguest.Build(t, lang+"/guest")
}

func TestHelloExamples(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			ex := "examples/hello-" + lang
			wasm := testguest.Build(t, ex)
			r := donjon(t, "", nil, "run", "--config", filepath.Join("..", "..", ex, "Donjon.toml"), wasm, "--", "from", "test")
			if r.code != 0 || !strings.Contains(strings.ToLower(r.stdout), "hello") || !strings.Contains(r.stdout, "from") {
				t.Fatalf("%v", r)
			}
			if strings.Contains(r.stdout, `"--"`) {
				t.Errorf("the separating -- reached the program: %s", r.stdout)
			}
			if n := strings.Count(r.stderr, nilWarning); n != 1 {
				t.Errorf("nil warning printed %d times, want once:\n%s", n, r.stderr)
			}
		})
	}
}

func TestArgsAndEnvironment(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			wasm := guest(t, lang)
			r := donjon(t, "", []string{"HOST_SECRET=leak"}, "run", "-e", "A=1", "-e", "B=two words", wasm, "env")
			if r.code != 0 {
				t.Fatal(r)
			}
			if strings.Contains(r.stdout, "HOST_SECRET") || strings.Contains(r.stdout, "HOME=") {
				t.Errorf("host environment leaked into the guest:\n%s", r.stdout)
			}
			for _, want := range []string{"A=1", "B=two words", "FD_COUNT=3", "FD_NAMES=stdin:stdout:stderr"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("env lacks %q:\n%s", want, r.stdout)
				}
			}
			r = donjon(t, "", nil, "run", wasm, "args", "x", "--flag", "")
			base := filepath.Base(wasm)
			if r.code != 0 || !strings.Contains(r.stdout, `"`+base+`"`) || !strings.Contains(r.stdout, `"--flag"`) || !strings.Contains(r.stdout, `""`) {
				t.Errorf("args: %v", r)
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	wasm := guest(t, "c")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	cfg := filepath.Join(dir, "Donjon.toml")
	os.WriteFile(cfg, []byte(`args = ["env"]

[env]
GREETING = "bonjour"

[[files]]
kind = "null"
[[files]]
kind = "stdout"
[[files]]
kind = "stderr"
name = "errors"
[[files]]
kind = "dir"
host = "`+data+`"
guest = "/data"
plain = true
`), 0o644)
	r := donjon(t, "ignored", nil, "run", "--config", cfg, wasm)
	for _, want := range []string{"GREETING=bonjour", "FD_COUNT=4", "FD_NAMES=null:stdout:errors:dir"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in %v", want, r)
		}
	}
	if strings.Contains(r.stderr, "plaintext") {
		t.Errorf("plain = true still warned: %s", r.stderr)
	}

	os.WriteFile(cfg, []byte("args = [\"env\"]\n\n[limits]\nmemroy = \"1GiB\"\n"), 0o644)
	r = donjon(t, "", nil, "run", "--config", cfg, wasm)
	if r.code != exitDonjon || !regexp.MustCompile(`Donjon.toml:4(:\d+)?: .*memroy.*memory`).MatchString(r.stderr) {
		t.Errorf("a misspelt key: want exit 125 naming line 4 and the fix, got %v", r)
	}
}

func TestExitCodes(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			wasm := guest(t, lang)
			for _, code := range []int{0, 1, 42, 255} {
				if r := donjon(t, "", nil, "run", wasm, "exit", fmt.Sprint(code)); r.code != code {
					t.Errorf("exit %d: %v", code, r)
				}
			}
		})
	}
}

func TestTrap(t *testing.T) {
	r := donjon(t, "", nil, "run", guest(t, "c"), "div0")
	if r.code != exitTrap || !strings.Contains(r.stderr, "trapped: integer divide by zero") || !strings.Contains(r.stderr, "wasm stack trace") {
		t.Errorf("div0: %v", r)
	}
	r = donjon(t, "", nil, "run", guest(t, "rust"), "trap")
	if r.code != exitTrap || !strings.Contains(r.stderr, "trapped:") {
		t.Errorf("rust trap: %v", r)
	}
	// A Go panic is the Go runtime's own exit, not a trap.
	r = donjon(t, "", nil, "run", guest(t, "go"), "trap")
	if r.code != 2 || !strings.Contains(r.stderr, "panic") {
		t.Errorf("go panic: %v", r)
	}
}

func TestTimeoutStopsComputingGuest(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			r := donjon(t, "", nil, "run", "--timeout", "500ms", guest(t, lang), "loop-forever")
			if r.code != exitTimeout || !strings.Contains(r.stderr, "wall-clock limit of 500ms reached") {
				t.Errorf("%v", r)
			}
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			r := donjon(t, "", nil, "run", "--memory", "32MiB", "--timeout", "60s", guest(t, lang), "alloc-forever")
			if r.code == 0 || r.code == exitTimeout || !strings.Contains(r.stderr, "of its 32 MiB limit: raise it with --memory") {
				t.Errorf("%v", r)
			}
		})
	}
	// A module whose initial memory is over the limit is refused up front.
	r := donjon(t, "", nil, "run", "--memory", "64KiB", guest(t, "go"), "args")
	if r.code != exitDonjon || !strings.Contains(r.stderr, "initial memory is over the limit: raise --memory") {
		t.Errorf("initial memory over the limit: %v", r)
	}
}

func TestFilesystem(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			dir := t.TempDir()
			r := donjon(t, "", nil, "run", "--plain-dir", dir+":/data", guest(t, lang), "fs", "/data")
			if r.code != 0 || strings.Contains(r.stdout, "FAIL") {
				t.Fatalf("%v", r)
			}
			if !strings.Contains(r.stdout, "ok ") {
				t.Errorf("no checks reported: %v", r)
			}
			if !strings.Contains(r.stdout, "ok two-fds\n") {
				t.Errorf("no two-fds check reported: %v", r)
			}
		})
	}
}

func TestSandboxEscapesRefused(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("outside"), 0o600)
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			dir := t.TempDir()
			// A symlink planted by the host that points out is refused too.
			os.Symlink(secret, filepath.Join(dir, "planted"))
			r := donjon(t, "", nil, "run", "--plain-dir", dir+":/data", guest(t, lang), "escape", "/data")
			if r.code != 0 || strings.Contains(r.stdout, "ESCAPED") || !strings.Contains(r.stdout, "refused") {
				t.Errorf("%v", r)
			}
			if strings.Contains(r.stdout, "outside") {
				t.Errorf("guest read a file outside its directory: %v", r)
			}
		})
	}
}

func TestStdinAndPoll(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			in := strings.Repeat("line of input\n", 5000)
			r := donjon(t, in, nil, "run", guest(t, lang), "cat")
			if r.code != 0 || r.stdout != in {
				t.Errorf("cat: exit %d, %d bytes out of %d", r.code, len(r.stdout), len(in))
			}
		})
	}
	// poll_oneoff on stdin waits for its timeout when nothing comes, and
	// reports readiness at end of input.
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	cmd := exec.Command(donjonBin, "run", "--no-cache", guest(t, "c"), "poll-stdin", "200")
	cmd.Stdin = pr
	out, err := cmd.Output()
	pr.Close()
	if err != nil || strings.TrimSpace(string(out)) != "timeout" {
		t.Errorf("poll-stdin with a silent pipe: %q, %v", out, err)
	}
	r := donjon(t, "", nil, "run", guest(t, "c"), "poll-stdin", "5000")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "ready" {
		t.Errorf("poll-stdin at EOF: %v", r)
	}
}

func TestClockRandomSleep(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			wasm := guest(t, lang)
			for _, args := range [][]string{{"clock"}, {"random"}, {"sleep", "50"}} {
				r := donjon(t, "", nil, append([]string{"run", wasm}, args...)...)
				if r.code != 0 || strings.Contains(r.stdout, "FAIL") {
					t.Errorf("%v: %v", args, r)
				}
			}
		})
	}
}

// A real program no one here wrote: gofmt from the Go distribution,
// built for wasip1, formats a file in a preopened directory.
func TestGofmtFromTheGoDistribution(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "gofmt.wasm")
	build := exec.Command("go", "build", "-o", wasm, "cmd/gofmt")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gofmt: %v\n%s", err, out)
	}
	dir := t.TempDir()
	src := "package main\nfunc  main( ) {\nprintln( \"hi\" )}\n"
	os.WriteFile(filepath.Join(dir, "ugly.go"), []byte(src), 0o644)
	r := donjon(t, "", nil, "run", "--plain-dir", dir+":/src", wasm, "-w", "/src/ugly.go")
	if r.code != 0 {
		t.Fatal(r)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "ugly.go"))
	want := "package main\n\nfunc main() {\n\tprintln(\"hi\")\n}\n"
	if string(got) != want {
		t.Errorf("gofmt -w wrote\n%s\nwant\n%s", got, want)
	}
	r = donjon(t, "", nil, "run", "--plain-dir", dir+":/src", wasm, "-l", "/src")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("gofmt -l after formatting: %v", r)
	}
}

func TestCompiledCodeCache(t *testing.T) {
	wasm := guest(t, "c")
	first := donjon(t, "", nil, "run", "-v", wasm, "exit", "0")
	second := donjon(t, "", nil, "run", "-v", wasm, "exit", "0")
	if !strings.Contains(first.stderr, "cached=false") || !strings.Contains(second.stderr, "cached=true") {
		t.Fatalf("first run:\n%s\nsecond run:\n%s", first.stderr, second.stderr)
	}
	// Tamper with every entry: the next run notices, recompiles and works.
	entries, _ := filepath.Glob(filepath.Join(cacheHome(t), "donjon", "compiled", "*"))
	if len(entries) == 0 {
		t.Fatal("no cache entries")
	}
	for _, e := range entries {
		b, _ := os.ReadFile(e)
		b[len(b)/2] ^= 0xff
		os.WriteFile(e, b, 0o600)
	}
	third := donjon(t, "", nil, "run", "-v", wasm, "exit", "7")
	if third.code != 7 || !strings.Contains(third.stderr, "integrity check") || !strings.Contains(third.stderr, "cached=false") {
		t.Errorf("tampered cache: %v", third)
	}
	fourth := donjon(t, "", nil, "run", "-v", wasm, "exit", "0")
	if !strings.Contains(fourth.stderr, "cached=true") {
		t.Errorf("cache not rebuilt after tampering: %v", fourth)
	}
}

func TestBadInputIsAClearError(t *testing.T) {
	notWasm := filepath.Join(t.TempDir(), "app.wasm")
	os.WriteFile(notWasm, []byte("#!/bin/sh\necho hi\n"), 0o755)
	garbage := filepath.Join(t.TempDir(), "garbage.wasm")
	os.WriteFile(garbage, []byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", notWasm}, "is not a WebAssembly module"},
		{[]string{"run", garbage}, "invalid module"},
		{[]string{"run", "/does/not/exist.wasm"}, "no such file"},
		{[]string{"run", "--backend", "sgx9", notWasm}, "--backend"},
		{[]string{"run", "--memory", "lots", notWasm}, "--memory"},
		{[]string{"run", "--plain-dir", "/does/not/exist:/x", guest(t, "c"), "args"}, "no such file"},
		{[]string{"run", "--env", "NOEQUALS", notWasm}, "KEY=VALUE"},
	} {
		r := donjon(t, "", nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: want a failure mentioning %q, got %v", tc.args, tc.want, r)
		}
		if strings.Contains(r.stderr, "goroutine ") {
			t.Errorf("%v: donjon crashed: %s", tc.args, r.stderr)
		}
	}
}

// Interrupting donjon kills the keep process: nothing is left running.
func TestInterruptKillsKeep(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc")
	}
	cmd := exec.Command(donjonBin, "run", "--no-cache", guest(t, "c"), "loop-forever")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, _ := stdout.Read(buf); !strings.Contains(string(buf[:n]), "looping") {
		t.Fatalf("guest did not start: %q", buf[:n])
	}
	children := keepChildren(cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatal("no keep process found")
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("donjon after SIGINT: %v", err)
	}
	for _, pid := range children {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
				t.Errorf("keep process %d still running", pid)
			}
		}
	}
}

// keepChildren lists the pids whose parent is pid.
func keepChildren(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		var ppid, child int
		if len(fields) > 1 {
			fmt.Sscan(fields[1], &ppid)
		}
		if ppid == pid {
			fmt.Sscan(filepath.Base(filepath.Dir(s)), &child)
			out = append(out, child)
		}
	}
	return out
}

func TestPlatformInfo(t *testing.T) {
	r := donjon(t, "", nil, "platform", "info")
	if r.code != 0 || !strings.Contains(r.stdout, "nil") || !strings.Contains(r.stdout, "snp") {
		t.Errorf("%v", r)
	}
	r = donjon(t, "", nil, "platform", "info", "-o", "json")
	if r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), "{") {
		t.Errorf("%v", r)
	}
	r = donjon(t, "", nil, "platform", "info", "-o", "yaml")
	if r.code == 0 || !strings.Contains(r.stderr, "-o json") {
		t.Errorf("%v", r)
	}
}

// The C guest calls the preview-1 functions the language runtimes leave
// alone (fd_advise, fd_allocate, fd_renumber, fd_fdstat_set_rights, raw
// fd_readdir cookies, poll_oneoff on every kind of subscription,
// sched_yield, proc_raise) directly. Checks a runtime may fail softly
// print FAIL too: donjon must pass them all.
func TestRawWASICalls(t *testing.T) {
	wasm := guest(t, "c")
	for _, args := range [][]string{
		{"wasi-fd", "/d"}, {"rights", "/d"}, {"preopens"}, {"poll-oneoff"}, {"poll-stdout"},
		{"sleep-poll", "20"}, {"yield"}, {"raise", "2"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := donjon(t, "", nil, append([]string{"run", "--plain-dir", t.TempDir() + ":/d", wasm}, args...)...)
			if r.code != 0 || strings.Contains(r.stdout, "FAIL") || r.stdout == "" {
				t.Errorf("%v", r)
			}
		})
	}
	r := donjon(t, "", nil, "run", "--plain-dir", t.TempDir()+":/d", wasm, "rights", "/d")
	if !strings.Contains(r.stdout, "write-after-drop errno 76") {
		t.Errorf("a write after dropping FD_WRITE was not refused with ENOTCAPABLE (76): %s", r.stdout)
	}
}
