//go:build linux

package sealfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"donjon.dev/wasi/vfs"
)

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, make([]byte, 16), Options{}); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("Open with a 16-byte key: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), testKey(1), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	if _, err := Open(filepath.Join(dir, "file"), testKey(1), Options{}); err == nil {
		t.Error("Open of a file succeeded")
	}
	// A directory with files but no header is not taken over.
	if _, err := Open(dir, testKey(1), Options{}); !errors.Is(err, ErrNotSealed) {
		t.Errorf("Open of a plain directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, rootFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a header was written into a plain directory: %v", err)
	}
}

// TestOtherFormatVersion: a volume of another format version (version 1
// placed blocks where version 2 does not look) is refused with a message
// that says so, not read.
func TestOtherFormatVersion(t *testing.T) {
	d, host := openTemp(t)
	mustWrite(t, d, "f", []byte("data"))
	d.Close()
	root := filepath.Join(host, rootFile)
	b, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	b[8] = 1 // the version, little-endian
	os.WriteFile(root, b, 0o600)
	if _, err := Open(host, testKey(1), Options{}); err == nil || !strings.Contains(err.Error(), "format version 1 is not supported by this donjon (it reads version 2)") {
		t.Fatalf("a version 1 volume: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	d, host := openTemp(t)
	mustWrite(t, d, "secret", []byte("data"))
	d.Close()
	_, err := Open(host, testKey(2), Options{})
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	if !strings.Contains(err.Error(), "sealed by another workload or platform") {
		t.Errorf("the error does not say why: %v", err)
	}
	// The right key still works: the failed Open changed nothing.
	d = reopen(t, host)
	if got := mustRead(t, d, "secret"); string(got) != "data" {
		t.Errorf("read %q", got)
	}
}

func TestOneOpenAtATime(t *testing.T) {
	d, host := openTemp(t)
	if _, err := Open(host, testKey(1), Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second Open: %v", err)
	}
	// The volume stays open while a file of it is, and closes with it.
	f := mustOpenFile(t, d, "f", vfs.OpenWrite|vfs.OpenCreate)
	d.Close()
	if _, err := f.Writev([][]byte{[]byte("still open")}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(host, testKey(1), Options{}); err == nil {
		t.Fatal("Open succeeded while a file was open")
	}
	f.Close()
	d2 := reopen(t, host)
	if got := mustRead(t, d2, "f"); string(got) != "still open" {
		t.Errorf("read %q", got)
	}
}

// TestNotCapable checks that a sealed directory refuses to leave itself,
// whatever calls it, and that a subdirectory opened as a Dir is a
// capability of its own.
func TestNotCapable(t *testing.T) {
	d, _ := openTemp(t)
	d.Mkdir("a")
	mustWrite(t, d, "y", nil)
	mustWrite(t, d, "a/y", nil)
	check := func(d *Dir, path string) {
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
	for _, path := range []string{"..", "../x", "/etc/passwd", "/", "a/../../x", "a/./../.."} {
		check(d, path)
	}
	n, err := d.Open("a", vfs.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	sub := n.(*Dir)
	defer sub.Close()
	check(sub, "..")
	check(sub, "../y")
	if err := d.Symlink("/etc", "abs"); !errors.Is(err, vfs.ErrNotCapable) {
		t.Errorf("Symlink to an absolute path: %v", err)
	}
}

func TestLinksRefused(t *testing.T) {
	d, _ := openTemp(t)
	mustWrite(t, d, "f", []byte("x"))
	if err := d.Symlink("f", "l"); err != syscall.EPERM {
		t.Errorf("Symlink: %v, want EPERM", err)
	}
	if err := d.Link("f", d, "l", false); err != syscall.EPERM {
		t.Errorf("Link: %v, want EPERM", err)
	}
	if _, err := d.Readlink("f", make([]byte, 8)); err != syscall.EINVAL {
		t.Errorf("Readlink of a file: %v, want EINVAL", err)
	}
	if _, err := d.StatAt("l", false); err != syscall.ENOENT {
		t.Errorf("a link was created: %v", err)
	}
	other, _ := openTemp(t)
	if err := d.Rename("f", other, "g"); err != syscall.EXDEV {
		t.Errorf("Rename to another sealed directory: %v, want EXDEV", err)
	}
	if err := d.Link("f", otherDir{}, "g", false); err != syscall.EXDEV {
		t.Errorf("Link to another implementation: %v, want EXDEV", err)
	}
}

// otherDir is a vfs.Dir of another implementation.
type otherDir struct{ vfs.Dir }

func TestNames(t *testing.T) {
	d, host := openTemp(t)
	long := strings.Repeat("n", MaxNameLen)
	for _, name := range []string{long, "é ü \u2603", "with space", "a\tb", "-_=+", ".hidden", "..dots", "x.y"} {
		mustWrite(t, d, name, []byte(name))
		if got := mustRead(t, d, name); string(got) != name {
			t.Errorf("%q read back as %q", name, got)
		}
	}
	if err := writeFile(d, long+"x", nil); err != syscall.ENAMETOOLONG {
		t.Errorf("a name of %d bytes: %v, want ENAMETOOLONG", MaxNameLen+1, err)
	}
	if err := d.Mkdir(long + "x/y"); err != syscall.ENAMETOOLONG {
		t.Errorf("a directory of %d bytes on the way: %v, want ENAMETOOLONG", MaxNameLen+1, err)
	}
	// On the host, no name is readable and none is longer than NAME_MAX.
	ents, err := os.ReadDir(host)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if len(e.Name()) > 255 || strings.Contains(e.Name(), "hidden") || strings.Contains(e.Name(), "with") {
			t.Errorf("host name %q", e.Name())
		}
	}
}

func TestReadDir(t *testing.T) {
	d, _ := openTemp(t)
	var want []string
	for i := range 40 {
		name := strings.Repeat("f", i%7+1) + string(rune('a'+i%26)) + string(rune('0'+i/26))
		mustWrite(t, d, name, nil)
		want = append(want, name)
	}
	d.Mkdir("zdir")
	want = append(want, "zdir")
	slices.Sort(want)
	first := listNames(t, d)
	got := slices.Sorted(slices.Values(first))
	if !slices.Equal(got, want) {
		t.Fatalf("ReadDir: %v\nwant %v", got, want)
	}
	if n, err := d.ReadDir(make([]vfs.Dirent, 1)); n != 0 || err != io.EOF {
		t.Errorf("ReadDir at the end: %d %v", n, err)
	}
	// The order is stable across Rewind, so cookies counting entries stay
	// valid; types and inode numbers are those StatAt gives.
	if again := listNames(t, d); !slices.Equal(again, first) {
		t.Errorf("order changed after Rewind:\n%v\n%v", first, again)
	}
	d.Rewind()
	ents := make([]vfs.Dirent, 64)
	n, err := d.ReadDir(ents)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents[:n] {
		st, err := d.StatAt(e.Name, false)
		if err != nil || st.Ino != e.Ino || st.Type != e.Type {
			t.Errorf("%q: dirent ino %d type %d, stat %+v %v", e.Name, e.Ino, e.Type, st, err)
		}
	}
	// Removing entries while reading on, as rm -r does, reaches them all.
	d.Rewind()
	removed := 0
	buf := make([]vfs.Dirent, 5)
	for {
		n, err := d.ReadDir(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range buf[:n] {
			if e.Type == vfs.TypeRegularFile {
				if err := d.Unlink(e.Name); err != nil {
					t.Fatal(err)
				}
				removed++
			}
		}
	}
	if removed != 40 || !slices.Equal(listNames(t, d), []string{"zdir"}) {
		t.Errorf("removed %d while reading; left %v", removed, listNames(t, d))
	}
}

func TestTwoDescriptors(t *testing.T) {
	d, _ := openTemp(t)
	a := mustOpenFile(t, d, "f", vfs.OpenRead|vfs.OpenWrite|vfs.OpenCreate)
	defer a.Close()
	b := mustOpenFile(t, d, "f", vfs.OpenRead|vfs.OpenWrite)
	defer b.Close()
	data := pattern(1, 0, 3*BlockSize+100)
	a.Pwritev([][]byte{data}, 0)
	got := make([]byte, len(data))
	if n, err := b.Preadv([][]byte{got}, 0); n != len(data) || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the other descriptor read %d bytes, %v", n, err)
	}
	// A partial write through b is seen by a, whose cache has the block.
	a.Preadv([][]byte{got[:10]}, BlockSize+5)
	b.Pwritev([][]byte{[]byte("XYZ")}, BlockSize+6)
	a.Preadv([][]byte{got[:10]}, BlockSize+5)
	if want := string(data[BlockSize+5:BlockSize+6]) + "XYZ" + string(data[BlockSize+9:BlockSize+15]); string(got[:10]) != want {
		t.Errorf("a read %q after b wrote, want %q", got[:10], want)
	}
	if err := b.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Stat(); st.Size != 10 {
		t.Errorf("a sees size %d after b truncated", st.Size)
	}
	// Appends through both land one after the other.
	b.SetAppend(true)
	a.SetAppend(true)
	a.Writev([][]byte{[]byte("-a")})
	b.Writev([][]byte{[]byte("-b")})
	if got := mustRead(t, d, "f"); string(got) != string(data[:10])+"-a-b" {
		t.Errorf("after appends: %q", got)
	}
	// Each descriptor has its own position.
	a.Seek(0, io.SeekStart)
	b.Seek(5, io.SeekStart)
	p := make([]byte, 2)
	a.Readv([][]byte{p})
	if !bytes.Equal(p, data[:2]) {
		t.Errorf("a read %q at 0", p)
	}
	b.Readv([][]byte{p})
	if !bytes.Equal(p, data[5:7]) {
		t.Errorf("b read %q at 5", p)
	}
}

func TestAccessModes(t *testing.T) {
	d, _ := openTemp(t)
	mustWrite(t, d, "f", []byte("abc"))
	ro := mustOpenFile(t, d, "f", vfs.OpenRead)
	defer ro.Close()
	if _, err := ro.Writev([][]byte{[]byte("x")}); err != syscall.EBADF {
		t.Errorf("write on a read-only descriptor: %v", err)
	}
	if err := ro.Truncate(0); err != syscall.EINVAL {
		t.Errorf("truncate on a read-only descriptor: %v", err)
	}
	wo := mustOpenFile(t, d, "f", vfs.OpenWrite)
	defer wo.Close()
	if _, err := wo.Readv([][]byte{make([]byte, 1)}); err != syscall.EBADF {
		t.Errorf("read on a write-only descriptor: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err != syscall.EBADF {
		t.Errorf("second Close: %v", err)
	}
	if _, err := ro.Stat(); err != syscall.EBADF {
		t.Errorf("Stat after Close: %v", err)
	}
}

func TestTimes(t *testing.T) {
	d, _ := openTemp(t)
	f := mustOpenFile(t, d, "f", vfs.OpenWrite|vfs.OpenCreate)
	defer f.Close()
	set := vfs.Time{Mode: vfs.TimeSet, Nanos: 1_000_000_000_123}
	if err := f.SetTimes(set, vfs.Time{Mode: vfs.TimeSet, Nanos: 2_000_000_000_456}); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if st.Atim != 1_000_000_000_123 || st.Mtim != 2_000_000_000_456 || st.Ctim < 2_000_000_000_456 {
		t.Errorf("times after SetTimes: %+v", st)
	}
	f.Writev([][]byte{[]byte("x")})
	st2, _ := f.Stat()
	if st2.Mtim <= st.Mtim || st2.Atim != st.Atim {
		t.Errorf("times after a write: %+v", st2)
	}
	if err := d.SetTimesAt("f", false, vfs.Time{}, set); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.StatAt("f", false); st.Mtim != set.Nanos || st.Atim != st2.Atim {
		t.Errorf("times after SetTimesAt: %+v", st)
	}
	d.Mkdir("sub")
	if err := d.SetTimesAt("sub", false, set, set); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.StatAt("sub", false); st.Mtim != set.Nanos || st.Type != vfs.TypeDirectory {
		t.Errorf("directory times: %+v", st)
	}
}

func TestRenameReplace(t *testing.T) {
	d, host := openTemp(t)
	mustWrite(t, d, "a", []byte("content of a"))
	mustWrite(t, d, "b", []byte("content of b"))
	d.Mkdir("sub")
	old := mustOpenFile(t, d, "b", vfs.OpenRead|vfs.OpenWrite)
	moving := mustOpenFile(t, d, "a", vfs.OpenRead|vfs.OpenWrite)
	if err := d.Rename("a", d, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.StatAt("a", false); err != syscall.ENOENT {
		t.Errorf("a after rename: %v", err)
	}
	if got := mustRead(t, d, "b"); string(got) != "content of a" {
		t.Errorf("b after rename: %q", got)
	}
	// A descriptor of the replaced file still reads and writes it, as an
	// unlinked file.
	if got, _ := readAll(old); string(got) != "content of b" {
		t.Errorf("the replaced file reads %q", got)
	}
	old.Pwritev([][]byte{[]byte("gone")}, 0)
	old.Close()
	// A descriptor of the renamed file follows it, and writes through it
	// land under the new name, even after it moves to another directory.
	moving.Pwritev([][]byte{[]byte("C")}, 0)
	if err := d.Rename("b", d, "sub/c"); err != nil {
		t.Fatal(err)
	}
	moving.Pwritev([][]byte{[]byte("ONTENT")}, 1)
	moving.Close()
	d.Close()
	d = reopen(t, host)
	if got := mustRead(t, d, "sub/c"); string(got) != "CONTENT of a" {
		t.Errorf("sub/c after reopening: %q", got)
	}
	if names := listNames(t, d); !slices.Equal(names, []string{"sub"}) {
		t.Errorf("left at the root: %v", names)
	}
}

func TestRenameDirectories(t *testing.T) {
	d, host := openTemp(t)
	for _, p := range []string{"a", "a/b", "empty", "full"} {
		if err := d.Mkdir(p); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, d, "a/b/f", []byte("deep"))
	mustWrite(t, d, "full/x", nil)
	// An open subdirectory, and a file open beneath the moved directory.
	n, err := d.Open("a/b", vfs.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	sub := n.(*Dir)
	defer sub.Close()
	f := mustOpenFile(t, d, "a/b/f", vfs.OpenWrite)
	defer f.Close()
	if err := d.Rename("a", d, "full"); err != syscall.ENOTEMPTY {
		t.Errorf("over a non-empty directory: %v", err)
	}
	if err := d.Rename("a", d, "a/b/c"); err != syscall.EINVAL {
		t.Errorf("into itself: %v", err)
	}
	if err := d.Rename("a", sub, "c"); err != syscall.EINVAL {
		t.Errorf("into itself, through a subdirectory: %v", err)
	}
	if err := d.Rename("a", d, "empty"); err != nil {
		t.Fatalf("over an empty directory: %v", err)
	}
	if _, err := d.StatAt("a", false); err != syscall.ENOENT {
		t.Errorf("a after rename: %v", err)
	}
	// Both keep working where the directory now is.
	if err := writeFile(sub, "new", []byte("made after the move")); err != nil {
		t.Fatal(err)
	}
	f.Pwritev([][]byte{[]byte("DEEP")}, 0)
	if err := sub.Rename("new", d, "moved-up"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	sub.Close()
	f.Close()
	d = reopen(t, host)
	tree, err := snapshot(d)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{`empty/`, `empty/b/`, `empty/b/f "DEEP"`, `full/`, `full/x ""`, `moved-up "made after the move"`}, "\n")
	if tree != want {
		t.Errorf("tree after reopening:\n%s\nwant\n%s", tree, want)
	}
}

func TestReopen(t *testing.T) {
	d, host := openTemp(t)
	files := map[string][]byte{}
	d.Mkdir("dir")
	d.Mkdir("dir/deeper")
	for i, size := range []int{0, 1, BlockSize - 1, BlockSize, BlockSize + 1, 100_000, maxChunk*BlockSize + 3} {
		for _, dir := range []string{"", "dir/", "dir/deeper/"} {
			name := dir + "file" + string(rune('a'+i))
			files[name] = pattern(i, 0, size)
			mustWrite(t, d, name, files[name])
		}
	}
	d.Close()
	d = reopen(t, host)
	for name, want := range files {
		if got := mustRead(t, d, name); !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes back, want %d", name, len(got), len(want))
		}
		if st, err := d.StatAt(name, false); err != nil || st.Size != uint64(len(want)) {
			t.Errorf("%s: stat %+v %v", name, st, err)
		}
	}
	// The host sees only sizes rounded to blocks.
	var hostSizes []int64
	filepath.Walk(host, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.Contains(fi.Name(), ".") {
			hostSizes = append(hostSizes, fi.Size())
			if fi.Size() != hdrSize && fi.Size()%pageSize != 0 {
				t.Errorf("host file of %d bytes", fi.Size())
			}
		}
		return nil
	})
	if len(hostSizes) != len(files) {
		t.Errorf("%d host files for %d files", len(hostSizes), len(files))
	}
}

func TestSync(t *testing.T) {
	d, _ := openTemp(t)
	f := mustOpenFile(t, d, "f", vfs.OpenWrite|vfs.OpenCreate|vfs.OpenSync)
	defer f.Close()
	if _, err := f.Writev([][]byte{pattern(3, 0, 10000)}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{f.Sync(), f.Datasync(), d.Sync(), d.Datasync()} {
		if err != nil {
			t.Error(err)
		}
	}
	if got := mustRead(t, d, "f"); !bytes.Equal(got, pattern(3, 0, 10000)) {
		t.Error("content after synchronous writes")
	}
}

// TestCrashStages stops updates where a crash could, abandons the volume
// as a killed process would, and checks what Open recovers: each update is
// whole or absent.
func TestCrashStages(t *testing.T) {
	oldData := pattern(1, 0, 3*BlockSize+10)
	newData := slices.Clone(oldData)
	copy(newData[100:], pattern(2, 100, 2*BlockSize+500)) // partial first and last blocks
	grown := append(slices.Clone(newData[:3*BlockSize+10]), pattern(3, 0, 5*BlockSize)...)
	for _, c := range []struct {
		stage  string
		update func(f vfs.File) error
		want   []byte
	}{
		{"journal", func(f vfs.File) error {
			_, err := f.Pwritev([][]byte{newData[100 : 100+2*BlockSize+500]}, 100)
			return err
		}, newData},
		{"blocks", func(f vfs.File) error {
			_, err := f.Pwritev([][]byte{newData[100 : 100+2*BlockSize+500]}, 100)
			return err
		}, newData},
		{"blocks", func(f vfs.File) error { return f.Truncate(BlockSize + 1) }, oldData[:BlockSize+1]},
		{"blocks", func(f vfs.File) error {
			_, err := f.Pwritev([][]byte{grown[len(oldData):]}, int64(len(oldData)))
			return err
		}, append(slices.Clone(oldData), grown[len(oldData):]...)},
		{"journal", func(f vfs.File) error { return f.Truncate(0) }, nil},
		{"blocks", func(f vfs.File) error {
			return f.SetTimes(vfs.Time{Mode: vfs.TimeSet, Nanos: 42}, vfs.Time{})
		}, oldData},
	} {
		d, host := openTemp(t)
		mustWrite(t, d, "f", oldData)
		f := mustOpenFile(t, d, "f", vfs.OpenWrite)
		d.v.crashAt = c.stage
		if err := c.update(f); err != errCrash {
			t.Fatalf("%s: the update did not stop: %v", c.stage, err)
		}
		d.v.abandon()
		d2 := reopen(t, host)
		if got := mustRead(t, d2, "f"); !bytes.Equal(got, c.want) {
			t.Errorf("crash at %s: %d bytes after recovery, want %d", c.stage, len(got), len(c.want))
		}
		d2.Close()
	}
}

// TestCrashRename stops renames of files and directories between their
// steps: the entry is readable under exactly one of its two names.
func TestCrashRename(t *testing.T) {
	for _, stage := range []string{"rebound", "moved"} {
		for _, replace := range []bool{false, true} {
			d, host := openTemp(t)
			mustWrite(t, d, "a", []byte("A"))
			if replace {
				mustWrite(t, d, "b", []byte("B"))
			}
			d.v.crashAt = stage
			if err := d.Rename("a", d, "b"); err != errCrash {
				t.Fatalf("%s: rename did not stop: %v", stage, err)
			}
			d.v.abandon()
			d2 := reopen(t, host)
			a, errA := readFile(d2, "a")
			b, errB := readFile(d2, "b")
			switch {
			case stage == "rebound" && (errA != nil || string(a) != "A" || (replace && string(b) != "B") || (!replace && errB != syscall.ENOENT)):
				t.Errorf("crash before the move (replace %v): a %q %v, b %q %v", replace, a, errA, b, errB)
			case stage == "moved" && (errA != syscall.ENOENT || errB != nil || string(b) != "A"):
				t.Errorf("crash after the move (replace %v): a %q %v, b %q %v", replace, a, errA, b, errB)
			}
			// The file keeps working, and renames back.
			if err := d2.Rename("b", d2, "c"); err != nil && stage == "moved" {
				t.Errorf("rename after recovery: %v", err)
			}
			d2.Close()
		}
	}
}
