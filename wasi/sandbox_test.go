//go:build linux

package wasi

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"donjon.dev/wasi/hostfs"
)

// sandbox builds, in a temporary directory,
//
//	sandbox/            preopened as "/" at fd 3
//	  x                 "top-x"
//	  sub/x             "sub-x"
//	  sub/inner/x       "inner-x"
//	  esc -> ../outside
//	  abs -> <absolute path of outside>
//	  etc -> /etc
//	  c1 -> c2 -> c3 -> sub/../../outside/secret
//	  sl -> sub/inner
//	  slup -> sub/..
//	  deep -> sub/inner/../../..
//	outside/secret      "secret"
//
// and returns a harness over it and the outside directory.
func sandbox(t *testing.T) (*harness, string) {
	base := t.TempDir()
	sb, out := filepath.Join(base, "sandbox"), filepath.Join(base, "outside")
	for _, d := range []string{sb, out, filepath.Join(sb, "sub", "inner")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"sandbox/x": "top-x", "sandbox/sub/x": "sub-x", "sandbox/sub/inner/x": "inner-x", "outside/secret": "secret"}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(base, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"esc": "../outside", "abs": out, "etc": "/etc",
		"c1": "c2", "c2": "c3", "c3": "sub/../../outside/secret",
		"sl": "sub/inner", "slup": "sub/..", "deep": "sub/inner/../../..",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(sb, name)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := hostfs.Open(sb)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessConfig(t, Config{FDs: []FD{Null(), Null(), Null(), Preopen("/", d)}})
	h.dir = sb
	return h, out
}

// checkOutside fails the test unless the outside directory holds exactly
// what it held at the start.
func checkOutside(t *testing.T, out string) {
	t.Helper()
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"secret"}) {
		t.Errorf("outside now holds %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "secret")); string(b) != "secret" {
		t.Errorf("outside/secret now holds %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 2 {
		t.Errorf("the parent of the sandbox holds %d entries, want 2", len(entries))
	}
}

func TestSandboxEscapes(t *testing.T) {
	h, out := sandbox(t)
	escapes := []string{
		"..", "../", "../outside/secret", "sub/../../outside/secret", "sub/../..",
		"./../outside", "sub/inner/../../../outside/secret",
		"esc", "esc/", "esc/secret", "esc/missing", "abs", "abs/secret", "etc/passwd",
		"c1", "deep", "deep/outside/secret", "sl/../../..", "slup/..",
	}
	for _, path := range escapes {
		for _, follow := range []uint32{0, lookupSymlinkFollow} {
			_, e := h.tryOpen(3, follow, path, 0, rightFdRead, 0)
			if e == errnoLoop && follow == 0 && !slices.Contains([]string{"..", "../"}, path) {
				continue // not following a final link is safe too
			}
			if e != errnoNotcapable {
				t.Errorf("path_open(%q, follow %d) = %v, want NOTCAPABLE", path, follow, e)
			}
		}
		if e, _ := h.stat(3, path, true); e != errnoNotcapable {
			t.Errorf("path_filestat_get(%q, follow) = %v", path, e)
		}
	}
	for _, path := range []string{"/", "/etc/passwd", "/x", "//x"} {
		if _, e := h.tryOpen(3, lookupSymlinkFollow, path, 0, 0, 0); e != errnoNotcapable {
			t.Errorf("absolute path_open(%q) = %v", path, e)
		}
	}
	// Creation and removal through escaping paths.
	for _, path := range []string{"esc/new", "../new", "abs/new", "c3/new"} {
		if e := h.path("path_create_directory", 3, path); e != errnoNotcapable {
			t.Errorf("path_create_directory(%q) = %v", path, e)
		}
		if _, e := h.tryOpen(3, lookupSymlinkFollow, path, uint32(oflagCreat), rightFdWrite, 0); e != errnoNotcapable {
			t.Errorf("O_CREAT %q = %v", path, e)
		}
		if e := h.symlink("x", 3, path); e != errnoNotcapable {
			t.Errorf("path_symlink at %q = %v", path, e)
		}
	}
	for _, path := range []string{"esc/secret", "../outside/secret", "abs/secret"} {
		for _, name := range []string{"path_unlink_file", "path_remove_directory"} {
			if e := h.path(name, 3, path); e != errnoNotcapable {
				t.Errorf("%s(%q) = %v", name, path, e)
			}
		}
		if e, _ := h.readlink(3, path, 64); e != errnoNotcapable {
			t.Errorf("path_readlink(%q) = %v", path, e)
		}
		if e := h.rename(3, path, 3, "stolen"); e != errnoNotcapable {
			t.Errorf("rename from %q = %v", path, e)
		}
		if e := h.rename(3, "x", 3, path); e != errnoNotcapable {
			t.Errorf("rename to %q = %v", path, e)
		}
		if e := h.link(3, false, path, 3, "stolen"); e != errnoNotcapable {
			t.Errorf("link from %q = %v", path, e)
		}
		if e := h.link(3, false, "x", 3, path); e != errnoNotcapable {
			t.Errorf("link to %q = %v", path, e)
		}
		p, n := h.str(path)
		if e := h.call("path_filestat_set_times", 3, uint64(lookupSymlinkFollow), p, n, 0, 0, uint64(fstMtimNow)); e != errnoNotcapable {
			t.Errorf("path_filestat_set_times(%q) = %v", path, e)
		}
	}
	// Following a link to outside, with link and set_times.
	if e := h.link(3, true, "c1", 3, "stolen"); e != errnoNotcapable {
		t.Errorf("link following c1 = %v", e)
	}
	p, n := h.str("esc")
	if e := h.call("path_filestat_set_times", 3, uint64(lookupSymlinkFollow), p, n, 0, 0, uint64(fstMtimNow)); e != errnoNotcapable {
		t.Errorf("set_times following esc = %v", e)
	}
	// Links to absolute paths cannot be made.
	for _, target := range []string{"/", "/etc/passwd", out} {
		if e := h.symlink(target, 3, "newlink"); e != errnoNotcapable {
			t.Errorf("path_symlink(%q) = %v", target, e)
		}
	}
	if exists(filepath.Join(h.dir, "newlink")) || exists(filepath.Join(h.dir, "stolen")) {
		t.Error("an escape attempt left something in the sandbox")
	}
	checkOutside(t, out)
}

func TestSandboxInside(t *testing.T) {
	h, out := sandbox(t)
	// ".." after a link is resolved from where the link points.
	for path, want := range map[string]string{
		"sl/../x":              "sub-x",
		"slup/x":               "top-x",
		"sub/inner/../../x":    "top-x",
		"sub/./inner/../x":     "sub-x",
		"sub//inner///x":       "inner-x",
		"sl/x":                 "inner-x",
		"./sub/../sub/x":       "sub-x",
		"sub/inner/../../sl/x": "inner-x",
	} {
		fd, e := h.tryOpen(3, lookupSymlinkFollow, path, 0, rightFdRead, 0)
		if e != errnoSuccess {
			t.Errorf("path_open(%q) = %v", path, e)
			continue
		}
		if e, got := h.read(fd, 64); e != errnoSuccess || got != want {
			t.Errorf("%q reads %q, want %q", path, got, want)
		}
		h.ok("fd_close", uint64(fd))
	}
	// Not following a link is looking at the link itself, inside.
	if e, st := h.stat(3, "esc", false); e != errnoSuccess || st.Type != 7 {
		t.Errorf("lstat esc = %v, type %d", e, st.Type)
	}
	if e, got := h.readlink(3, "esc", 64); e != errnoSuccess || got != "../outside" {
		t.Errorf("readlink esc = %v %q", e, got)
	}
	// Removing a link to outside removes the link only.
	if e := h.path("path_unlink_file", 3, "esc"); e != errnoSuccess {
		t.Errorf("unlink esc = %v", e)
	}
	checkOutside(t, out)
}

// TestSandboxSubdirectory checks that a directory descriptor is a
// capability of its own: ".." from it is refused even though the parent is
// in the preopen.
func TestSandboxSubdirectory(t *testing.T) {
	h, out := sandbox(t)
	sub, e := h.tryOpen(3, 0, "sub", uint32(oflagDirectory), rightsDir, 0)
	if e != errnoSuccess {
		t.Fatal(e)
	}
	for _, path := range []string{"..", "../x", "inner/../../x", "../sub/x"} {
		if _, e := h.tryOpen(sub, lookupSymlinkFollow, path, 0, rightFdRead, 0); e != errnoNotcapable {
			t.Errorf("from sub, path_open(%q) = %v, want NOTCAPABLE", path, e)
		}
	}
	h.symlink("../x", sub, "up")
	if _, e := h.tryOpen(sub, lookupSymlinkFollow, "up", 0, rightFdRead, 0); e != errnoNotcapable {
		t.Errorf("from sub, a link to its parent: %v", e)
	}
	// The same link is fine from the preopen, where the parent is inside.
	fd, e := h.tryOpen(3, lookupSymlinkFollow, "sub/up", 0, rightFdRead, 0)
	if e != errnoSuccess {
		t.Fatalf("from the preopen, sub/up: %v", e)
	}
	if e, got := h.read(fd, 64); got != "top-x" {
		t.Errorf("sub/up reads %v %q", e, got)
	}
	// Following a link into a subdirectory capability works.
	sl, e := h.tryOpen(3, lookupSymlinkFollow, "sl", uint32(oflagDirectory), rightsDir, 0)
	if e != errnoSuccess {
		t.Fatal(e)
	}
	fd, e = h.tryOpen(sl, 0, "x", 0, rightFdRead, 0)
	if e != errnoSuccess {
		t.Fatal(e)
	}
	if _, got := h.read(fd, 64); got != "inner-x" {
		t.Errorf("x from the directory sl points to: %q", got)
	}
	if _, e := h.tryOpen(sl, 0, "..", uint32(oflagDirectory), 0, 0); e != errnoNotcapable {
		t.Errorf("\"..\" from sl: %v", e)
	}
	checkOutside(t, out)
}
