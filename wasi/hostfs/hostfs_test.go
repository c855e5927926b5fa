//go:build linux

package hostfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

func openTemp(t *testing.T) (*Dir, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	if _, err := Open(filepath.Join(dir, "file")); err == nil {
		t.Error("Open of a file succeeded")
	}
}

// TestNotCapable checks that hostfs itself refuses to leave its directory,
// whatever calls it.
func TestNotCapable(t *testing.T) {
	d, dir := openTemp(t)
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	os.Symlink("..", filepath.Join(dir, "up"))
	os.Symlink("/etc", filepath.Join(dir, "etc"))
	for _, path := range []string{"..", "../x", "/etc/passwd", "/", "up/x", "etc/passwd", "a/../../x"} {
		checks := map[string]error{}
		_, checks["Open"] = d.Open(path, vfs.OpenRead|vfs.OpenFollow)
		_, checks["StatAt"] = d.StatAt(path, true)
		checks["Mkdir"] = d.Mkdir(path + "/new")
		checks["Unlink"] = d.Unlink(path + "/x")
		checks["Rmdir"] = d.Rmdir(path + "/x")
		checks["Symlink"] = d.Symlink("x", path+"/l")
		checks["Rename"] = d.Rename(path+"/x", d, "y")
		checks["Link"] = d.Link("y", d, path+"/x", false)
		checks["SetTimesAt"] = d.SetTimesAt(path+"/x", false, vfs.Time{Mode: vfs.TimeNow}, vfs.Time{})
		_, checks["Readlink"] = d.Readlink(path+"/x", make([]byte, 8))
		for op, err := range checks {
			if !errors.Is(err, vfs.ErrNotCapable) {
				t.Errorf("%s(%q): %v, want ErrNotCapable", op, path, err)
			}
		}
	}
	if err := d.Symlink("/etc", "abs"); !errors.Is(err, vfs.ErrNotCapable) {
		t.Errorf("Symlink to an absolute path: %v", err)
	}
}

func TestOpenKinds(t *testing.T) {
	d, dir := openTemp(t)
	os.WriteFile(filepath.Join(dir, "file"), []byte("abc"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := d.Open("file", vfs.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	f := n.(*File)
	if f.Type() != vfs.TypeRegularFile || f.PollFD() != -1 {
		t.Errorf("file: type %d, poll fd %d", f.Type(), f.PollFD())
	}
	f.Close()
	if err := f.Close(); err != syscall.EBADF {
		t.Errorf("second Close: %v", err)
	}
	n, err = d.Open("sub", vfs.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	sub := n.(*Dir)
	os.WriteFile(filepath.Join(dir, "sub", "inner"), nil, 0o644)
	if st, err := sub.StatAt("inner", false); err != nil || st.Type != vfs.TypeRegularFile {
		t.Errorf("a file in the opened directory: %v %+v", err, st)
	}
	sub.Close()
	// A FIFO opens at once, without a writer, and is polled.
	n, err = d.Open("fifo", vfs.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	fifo := n.(*File)
	if fifo.Type() != vfs.TypeUnknown || fifo.PollFD() < 0 {
		t.Errorf("fifo: type %d, poll fd %d", fifo.Type(), fifo.PollFD())
	}
	fifo.Close()
}

func TestBorrow(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := Borrow(w)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type() != vfs.TypeUnknown || f.PollFD() < 0 || f.IsTerminal() {
		t.Errorf("pipe: type %d, poll fd %d, terminal %v", f.Type(), f.PollFD(), f.IsTerminal())
	}
	if err := f.SetAppend(false); err != nil {
		t.Errorf("SetAppend to the mode it is in: %v", err)
	}
	if err := f.SetAppend(true); err != syscall.ENOTSUP {
		t.Errorf("SetAppend on a borrowed file: %v, want ENOTSUP", err)
	}
	if _, err := f.Writev([][]byte{[]byte("a"), []byte("bc")}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := w.Write([]byte("d")); err != nil {
		t.Errorf("the borrowed file was closed: %v", err)
	}
	got := make([]byte, 4)
	if n, _ := io.ReadFull(r, got); string(got[:n]) != "abcd" {
		t.Errorf("pipe got %q", got[:n])
	}

	lf, err := os.OpenFile(filepath.Join(t.TempDir(), "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	bf, err := Borrow(lf)
	if err != nil {
		t.Fatal(err)
	}
	if fl, err := bf.HostFlags(); err != nil || fl&unix.O_APPEND == 0 {
		t.Errorf("host flags %#x, %v", fl, err)
	}
	if bf.Type() != vfs.TypeRegularFile || bf.PollFD() != -1 {
		t.Errorf("regular file: type %d, poll fd %d", bf.Type(), bf.PollFD())
	}
}

func TestReadDirRewind(t *testing.T) {
	d, dir := openTemp(t)
	want := []string{"a", "b", "c"}
	for _, n := range want {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	list := func() []string {
		var names []string
		ents := make([]vfs.Dirent, 2)
		for {
			n, err := d.ReadDir(ents)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents[:n] {
				names = append(names, e.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	if got := list(); !slices.Equal(got, want) {
		t.Errorf("ReadDir: %v", got)
	}
	if n, err := d.ReadDir(make([]vfs.Dirent, 1)); n != 0 || err != io.EOF {
		t.Errorf("ReadDir at the end: %d %v", n, err)
	}
	if err := d.Rewind(); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, want) {
		t.Errorf("ReadDir after Rewind: %v", got)
	}
}

// otherDir is a vfs.Dir of another implementation.
type otherDir struct{ vfs.Dir }

func TestForeignDir(t *testing.T) {
	d, dir := openTemp(t)
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	if err := d.Rename("f", otherDir{}, "g"); err != syscall.EXDEV {
		t.Errorf("Rename to another implementation: %v", err)
	}
	if err := d.Link("f", otherDir{}, "g", false); err != syscall.EXDEV {
		t.Errorf("Link to another implementation: %v", err)
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		in, parent, name string
		slash            bool
	}{
		{"a", "", "a", false},
		{"a/", "", "a", true},
		{"a//", "", "a", true},
		{"a/b", "a", "b", false},
		{"a//b///", "a", "b", true},
		{"a/b/..", "a/b", "..", false},
		{".", "", ".", false},
	}
	for _, c := range cases {
		p, n, s, err := split(c.in)
		if err != nil || p != c.parent || n != c.name || s != c.slash {
			t.Errorf("split(%q) = %q %q %v %v", c.in, p, n, s, err)
		}
	}
	if _, _, _, err := split(""); err != syscall.ENOENT {
		t.Errorf("split of an empty path: %v", err)
	}
	if _, _, _, err := split("/a"); err != vfs.ErrNotCapable {
		t.Errorf("split of an absolute path: %v", err)
	}
}
