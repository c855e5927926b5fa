package testguest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The guests the rest of the repository relies on.
var wantGuests = []string{
	"go", "go/compute", "c/guest", "c/compute", "rust/guest",
	"examples/hello-go", "examples/hello-c", "examples/hello-rust", "examples/notes-go",
}

func TestBuildEveryGuest(t *testing.T) {
	names, err := Names()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range wantGuests {
		if !slices.Contains(names, want) {
			t.Errorf("Names() = %v, missing %q", names, want)
		}
	}
	for _, name := range names {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			path := Build(t, name)
			head := readHead(t, path, len(wasmMagic))
			if !bytes.Equal(head, wasmMagic) {
				t.Errorf("%s starts with %x, want the wasm magic and version %x", path, head, wasmMagic)
			}
		})
	}
}

func TestBuildToReusesTheCache(t *testing.T) {
	dir := t.TempDir()
	first, err := BuildTo(t.Context(), "c/compute", dir)
	if err != nil {
		t.Fatal(err)
	}
	before := stat(t, first)
	second, err := BuildTo(t.Context(), "c/compute", dir)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Fatalf("second build went to %s, first to %s", second, first)
	}
	after := stat(t, second)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the second build rewrote %s", second)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no temporary files left): %v", len(entries), entries)
	}
}

func TestCacheKeyFollowsTheSource(t *testing.T) {
	root := fakeRoot(t, map[string]string{
		"testdata/guests/c/tiny.c": "int main(void) { return 0; }\n",
	})
	cache := t.TempDir()
	first, err := build(t.Context(), root, "c/tiny", cache, targetWasm)
	if err != nil {
		t.Fatal(err)
	}
	again, err := build(t.Context(), root, "c/tiny", cache, targetWasm)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("unchanged source built to %s, then to %s", first, again)
	}
	writeFile(t, filepath.Join(root, "testdata/guests/c/tiny.c"), "int main(void) { return 1; }\n")
	changed, err := build(t.Context(), root, "c/tiny", cache, targetWasm)
	if err != nil {
		t.Fatal(err)
	}
	if changed == first {
		t.Errorf("a changed source reused the cache entry %s", first)
	}
	for _, p := range []string{first, changed} {
		if !hasMagic(p, targetWasm) {
			t.Errorf("%s is not a wasm module", p)
		}
	}
}

func TestCompileErrorIsReported(t *testing.T) {
	root := fakeRoot(t, map[string]string{
		"testdata/guests/c/broken.c": "int main(void) { return undeclared_name; }\n",
	})
	cache := t.TempDir()
	_, err := build(t.Context(), root, "c/broken", cache, targetWasm)
	if err == nil || !strings.Contains(err.Error(), "undeclared_name") {
		t.Fatalf("build of a broken guest: %v, want the compiler's complaint", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("a failed build left %v in the cache", entries)
	}
}

func TestUnknownAndInvalidNames(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "c", "c/nope", "rust/nope", "examples/nope", "python/x", "C/guest",
		"../go", "c/../../etc/passwd", "/etc/passwd", "c//guest", "c/guest/", "examples/hello-c/main"} {
		if src, err := resolve(root, name); err == nil {
			t.Errorf("resolve(%q) = %+v, want an error", name, src)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("resolve(%q) error spans lines: %q", name, err)
		}
	}
	_, err = resolve(root, "c/nope")
	if err == nil || !strings.Contains(err.Error(), "c/guest") {
		t.Errorf("error for an unknown guest should list the known ones: %v", err)
	}
}

// fatalRecorder is a testing.TB that records Fatalf and Skip instead of
// acting on them, to check what Build does when a toolchain is missing.
type fatalRecorder struct {
	testing.TB
	fatal   string
	skipped bool
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *fatalRecorder) Fatal(args ...any)                { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *fatalRecorder) Skip(args ...any)                 { r.skipped = true; runtime.Goexit() }
func (r *fatalRecorder) Skipf(format string, args ...any) { r.skipped = true; runtime.Goexit() }
func (r *fatalRecorder) SkipNow()                         { r.skipped = true; runtime.Goexit() }

func TestMissingToolchainFailsWithThePackageToInstall(t *testing.T) {
	cases := []struct {
		env, value, guest, want string
	}{
		{clangEnv, "/nonexistent/clang", "c/compute", "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"},
		{rustcEnv, "/nonexistent/rustc", "rust/guest", "apt-get install rustc libstd-rust-dev-wasm32"},
		{sysrootEnv, t.TempDir(), "c/compute", "apt-get install wasi-libc"},
		{"PATH", t.TempDir(), "go", "install it with: apt-get install golang-go"},
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			t.Setenv(CacheEnv, t.TempDir())
			rec := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Build(rec, c.guest)
			}()
			<-done
			if rec.skipped {
				t.Fatal("Build skipped the test; a missing toolchain must fail it")
			}
			if !strings.Contains(rec.fatal, c.want) {
				t.Errorf("Build failed with %q, want it to say %q", rec.fatal, c.want)
			}
		})
	}
}

// The compute programs must agree with each other natively and with an
// independent computation here.
func TestNativeComputeResults(t *testing.T) {
	want := map[string]string{
		"sieve 100000": "9592",
		"sieve 2":      "0",
		"sieve 3":      "1",
		"matmul 37":    fmt.Sprint(matmulSum(37)),
		"matmul 0":     "0",
		"sha256 0":     hex.EncodeToString(generatedSHA256(0)),
		"sha256 2":     hex.EncodeToString(generatedSHA256(2)),
	}
	for _, name := range []string{"c/compute", "go/compute"} {
		bin := BuildNative(t, name)
		for args, wantOut := range want {
			out, code := run(t, bin, nil, strings.Fields(args)...)
			if code != 0 || strings.TrimSpace(out) != wantOut {
				t.Errorf("%s %s = %q (exit %d), want %q", name, args, out, code, wantOut)
			}
		}
		if _, code := run(t, bin, nil, "sieve", "-1"); code != 64 {
			t.Errorf("%s sieve -1 exited %d, want 64 (usage)", name, code)
		}
	}
}

// The check guests run natively too: their checks must pass on Linux, so a
// failure under donjon points at donjon, not at the guest.
func TestNativeGuestChecks(t *testing.T) {
	for _, name := range []string{"go", "c/guest"} {
		bin := BuildNative(t, name)
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			out, code := run(t, bin, nil, "fs", dir)
			if code != 0 || !strings.HasSuffix(out, "done fs\n") {
				t.Errorf("fs: exit %d, output:\n%s", code, out)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("fs left %v behind", left)
			}
			for _, check := range []string{"ok set-times", "ok readdir", "ok hardlink", "ok symlink", "ok rmdir"} {
				if !strings.Contains(out, check+"\n") {
					t.Errorf("fs output lacks %q", check)
				}
			}

			args := []string{"args", "two words", `quote " and \ backslash`, "new\nline"}
			out, code = run(t, bin, nil, args...)
			var got []string
			if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
				t.Fatalf("args: exit %d, output %q: %v", code, out, err)
			}
			if !slices.Equal(got[1:], args) {
				t.Errorf("args printed %q, want %q after argv[0]", got, args)
			}

			env := []string{"ZED=last", "ALPHA=first", "MIDDLE=a=b"}
			out, code = run(t, bin, env, "env")
			got = nil
			if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
				t.Fatalf("env: exit %d, output %q: %v", code, out, err)
			}
			if want := []string{"ALPHA=first", "MIDDLE=a=b", "ZED=last"}; !slices.Equal(got, want) {
				t.Errorf("env printed %q, want %q", got, want)
			}

			if _, code := run(t, bin, nil, "exit", "7"); code != 7 {
				t.Errorf("exit 7 exited %d", code)
			}
			if out, code := run(t, bin, nil, "random"); code != 0 || !strings.HasSuffix(out, "done random\n") {
				t.Errorf("random: exit %d, output:\n%s", code, out)
			}
			if _, code := run(t, bin, nil, "no-such-subcommand"); code != 64 {
				t.Errorf("an unknown subcommand exited %d, want 64", code)
			}
		})
	}
}

// FuzzResolve checks that no guest name, however odd, resolves to a file
// outside the module's guest and example directories.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"go", "c/guest", "rust/guest", "examples/hello-c", "../x", "c/../../etc/passwd", "go/../../..", "examples/./x", "\x00", "c/guest\x00.c"} {
		f.Add(s)
	}
	root, err := moduleRoot()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		src, err := resolve(root, name)
		if err != nil {
			return
		}
		for _, file := range append([]string{src.input}, src.files...) {
			clean := filepath.ToSlash(filepath.Clean(strings.TrimPrefix(file, "./")))
			if clean != "go.mod" && !strings.HasPrefix(clean, "testdata/guests/") && !strings.HasPrefix(clean, "examples/") {
				t.Errorf("resolve(%q) reaches %q", name, file)
			}
			if strings.Contains(file, "..") {
				t.Errorf("resolve(%q) reaches %q", name, file)
			}
		}
	})
}

// matmulSum is the compute guests' matmul, in integers.
func matmulSum(n int) int64 {
	var sum int64
	for i := range n {
		for k := range n {
			a := int64((i + k) % 10)
			for j := range n {
				sum += a * int64((2*k+j)%7)
			}
		}
	}
	return sum
}

// generatedSHA256 is the compute guests' sha256 over the standard library.
func generatedSHA256(mb int) []byte {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	x := uint64(0x9E3779B97F4A7C15)
	for range mb {
		for i := 0; i < len(buf); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(buf[i:], x)
		}
		h.Write(buf)
	}
	return h.Sum(nil)
}

// run runs bin with args and only env in its environment (nil: none),
// returning its standard output and exit code.
func run(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	if env == nil {
		cmd.Env = []string{}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("run %s %v: %v (stderr: %s)", bin, args, err, stderr.String())
		return "", -1
	}
}

func readHead(t *testing.T, path string, n int) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data[:min(n, len(data))]
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeRoot makes a module root holding only the given files.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "module donjon.dev\n\ngo 1.26\n")
	for name, content := range files {
		writeFile(t, filepath.Join(root, name), content)
	}
	return root
}
