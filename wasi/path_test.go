//go:build linux

package wasi

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"donjon.dev/wasi/hostfs"
	"donjon.dev/wasi/vfs"
)

// pathCall calls a path function whose arguments are (fd, path) plus extra
// arguments after the path.
func (h *harness) path(name string, fd uint32, path string, extra ...uint64) errno {
	h.t.Helper()
	p, n := h.str(path)
	return h.call(name, append([]uint64{uint64(fd), p, n}, extra...)...)
}

func (h *harness) stat(fd uint32, path string, follow bool) (errno, vfs.Filestat) {
	h.t.Helper()
	p, n := h.str(path)
	buf := h.alloc(filestatSize)
	flags := uint64(0)
	if follow {
		flags = uint64(lookupSymlinkFollow)
	}
	e := h.call("path_filestat_get", uint64(fd), flags, p, n, uint64(buf))
	return e, vfs.Filestat{Dev: h.u64(buf), Ino: h.u64(buf + 8), Type: vfs.FileType(h.mem.b[buf+16]),
		Nlink: h.u64(buf + 24), Size: h.u64(buf + 32), Atim: h.u64(buf + 40), Mtim: h.u64(buf + 48), Ctim: h.u64(buf + 56)}
}

func (h *harness) symlink(target string, fd uint32, path string) errno {
	h.t.Helper()
	tp, tn := h.str(target)
	p, n := h.str(path)
	return h.call("path_symlink", tp, tn, uint64(fd), p, n)
}

func (h *harness) rename(fd uint32, from string, to uint32, path string) errno {
	h.t.Helper()
	fp, fn := h.str(from)
	p, n := h.str(path)
	return h.call("path_rename", uint64(fd), fp, fn, uint64(to), p, n)
}

func (h *harness) link(fd uint32, follow bool, from string, to uint32, path string) errno {
	h.t.Helper()
	fp, fn := h.str(from)
	p, n := h.str(path)
	flags := uint64(0)
	if follow {
		flags = uint64(lookupSymlinkFollow)
	}
	return h.call("path_link", uint64(fd), flags, fp, fn, uint64(to), p, n)
}

func (h *harness) readlink(fd uint32, path string, size uint32) (errno, string) {
	h.t.Helper()
	p, n := h.str(path)
	buf, used := h.alloc(size), h.alloc(4)
	e := h.call("path_readlink", uint64(fd), p, n, uint64(buf), uint64(size), uint64(used))
	return e, string(h.bytes(buf, h.u32(used)))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestPathOpen(t *testing.T) {
	h := newHarness(t)
	h.writeHost("file", "content")
	os.Mkdir(h.hostPath("dir"), 0o755)

	fd := h.open("new", uint32(oflagCreat|oflagExcl), rw, 0)
	if !exists(h.hostPath("new")) {
		t.Error("O_CREAT made no file")
	}
	h.ok("fd_close", uint64(fd))
	open := func(want errno, path string, oflags uint32, base rights, fdflags, lookup uint32) {
		t.Helper()
		if _, e := h.tryOpen(3, lookup, path, oflags, base, fdflags); e != want {
			t.Errorf("path_open(%q, oflags %#x, rights %#x, fdflags %#x, lookup %#x) = %v, want %v", path, oflags, base, fdflags, lookup, e, want)
		}
	}
	open(errnoExist, "new", uint32(oflagCreat|oflagExcl), 0, 0, 0)
	open(errnoNoent, "missing", 0, 0, 0, 0)
	open(errnoNoent, "", 0, 0, 0, 0)
	open(errnoNotdir, "file", uint32(oflagDirectory), 0, 0, 0)
	open(errnoNotdir, "file/", 0, 0, 0, 0)
	open(errnoIsdir, "dir", 0, rightFdWrite, 0, 0)
	open(errnoIsdir, "newdir/", uint32(oflagCreat), 0, 0, 0)
	open(errnoInval, "dir", uint32(oflagDirectory|oflagCreat), 0, 0, 0)
	open(errnoInval, "file", 1<<4, 0, 0, 0)
	open(errnoInval, "file", 0, 0, 1<<5, 0)
	open(errnoInval, "file", 0, 0, 0, 2)
	open(errnoInval, "file\x00", 0, 0, 0, 0)
	open(errnoNametoolong, strings.Repeat("a", maxPathLen+1), 0, 0, 0, 0)
	open(errnoNametoolong, strings.Repeat("a", 300), uint32(oflagCreat), 0, 0, 0) // a component longer than NAME_MAX

	fd = h.open("file", uint32(oflagTrunc), rightFdRead, 0)
	if h.readHost("file") != "" {
		t.Error("O_TRUNC left the content")
	}
	// A directory, opened with directory rights only.
	dfd := h.open("dir", uint32(oflagDirectory), rightsAll&^rightsWrite, 0)
	buf := h.alloc(fdstatSize)
	h.ok("fd_fdstat_get", uint64(dfd), uint64(buf))
	if vfs.FileType(h.mem.b[buf]) != vfs.TypeDirectory || rights(h.u64(buf+8)) != rightsDir {
		t.Errorf("opened directory: type %d rights %#x", h.mem.b[buf], h.u64(buf+8))
	}
	if _, e := h.tryOpen(fd, 0, "x", 0, 0, 0); e != errnoNotdir {
		t.Errorf("path_open relative to a file: %v", e)
	}

	// Rights of the directory: PATH_OPEN, plus CREATE_FILE for O_CREAT and
	// FILESTAT_SET_SIZE for O_TRUNC.
	h.ok("fd_fdstat_set_rights", uint64(dfd), uint64(rightsDir&^(rightPathCreateFile|rightPathFilestatSetSize)), uint64(rightsAll))
	if _, e := h.tryOpen(dfd, 0, "f", uint32(oflagCreat), 0, 0); e != errnoNotcapable {
		t.Errorf("O_CREAT without PATH_CREATE_FILE: %v", e)
	}
	h.writeHost("dir/f", "x")
	if _, e := h.tryOpen(dfd, 0, "f", uint32(oflagTrunc), 0, 0); e != errnoNotcapable {
		t.Errorf("O_TRUNC without PATH_FILESTAT_SET_SIZE: %v", e)
	}
	if _, e := h.tryOpen(dfd, 0, "f", 0, rightFdRead, 0); e != errnoSuccess {
		t.Errorf("plain open: %v", e)
	}
	h.ok("fd_fdstat_set_rights", uint64(dfd), 0, 0)
	if _, e := h.tryOpen(dfd, 0, "f", 0, 0, 0); e != errnoNotcapable {
		t.Errorf("open without PATH_OPEN: %v", e)
	}

	p, n := h.str("file")
	h.want(errnoFault, "path_open", 3, 0, p, n, 0, 0, 0, 0, bad)
	h.want(errnoFault, "path_open", 3, 0, bad, 4, 0, 0, 0, 0, uint64(h.alloc(4)))
	h.want(errnoBadf, "path_open", 99, 0, p, n, 0, 0, 0, 0, uint64(h.alloc(4)))

	// O_APPEND|O_SYNC stick, and show in fdstat.
	afd := h.open("file", 0, rw, uint32(fdflagAppend|fdflagSync))
	h.ok("fd_fdstat_get", uint64(afd), uint64(buf))
	if got := le.Uint16(h.mem.b[buf+2:]); got != fdflagAppend|fdflagSync {
		t.Errorf("flags %#x", got)
	}
}

func TestPathSymlinks(t *testing.T) {
	h := newHarness(t)
	h.writeHost("target", "T")
	os.Mkdir(h.hostPath("dir"), 0o755)
	if e := h.symlink("target", 3, "link"); e != errnoSuccess {
		t.Fatal(e)
	}
	h.symlink("dir", 3, "dlink")
	h.symlink("nowhere", 3, "dangling")
	h.symlink("loop", 3, "loop")

	// Following or not.
	if _, e := h.tryOpen(3, 0, "link", 0, rightFdRead, 0); e != errnoLoop {
		t.Errorf("no-follow open of a link: %v, want LOOP", e)
	}
	if _, e := h.tryOpen(3, 0, "dlink", uint32(oflagDirectory), 0, 0); e != errnoNotdir && e != errnoLoop {
		t.Errorf("no-follow directory open of a link: %v", e)
	}
	fd, e := h.tryOpen(3, lookupSymlinkFollow, "link", 0, rightFdRead, 0)
	if e != errnoSuccess {
		t.Fatalf("open through a link: %v", e)
	}
	if e, got := h.read(fd, 5); e != errnoSuccess || got != "T" {
		t.Errorf("read through a link: %v %q", e, got)
	}
	if _, e := h.tryOpen(3, lookupSymlinkFollow, "loop", 0, 0, 0); e != errnoLoop {
		t.Errorf("open of a self link: %v", e)
	}
	if _, e := h.tryOpen(3, lookupSymlinkFollow, "dangling", 0, 0, 0); e != errnoNoent {
		t.Errorf("open of a dangling link: %v", e)
	}
	// O_CREAT through a dangling link creates its target; O_EXCL never
	// follows.
	if _, e := h.tryOpen(3, lookupSymlinkFollow, "dangling", uint32(oflagCreat|oflagExcl), 0, 0); e != errnoExist {
		t.Errorf("O_EXCL on a dangling link: %v", e)
	}
	if _, e := h.tryOpen(3, lookupSymlinkFollow, "dangling", uint32(oflagCreat), 0, 0); e != errnoSuccess || !exists(h.hostPath("nowhere")) {
		t.Errorf("O_CREAT through a dangling link: %v", e)
	}
	// "link/" names what the link points to, a directory or nothing.
	if _, e := h.tryOpen(3, 0, "dlink/", 0, 0, 0); e != errnoSuccess {
		t.Errorf("open \"dlink/\": %v", e)
	}

	if e, st := h.stat(3, "link", false); e != errnoSuccess || st.Type != vfs.TypeSymbolicLink {
		t.Errorf("lstat link: %v %d", e, st.Type)
	}
	if e, st := h.stat(3, "link", true); e != errnoSuccess || st.Type != vfs.TypeRegularFile || st.Size != 1 {
		t.Errorf("stat link: %v %+v", e, st)
	}
	if e, st := h.stat(3, "dlink/", false); e != errnoSuccess || st.Type != vfs.TypeDirectory {
		t.Errorf("lstat \"dlink/\": %v %d", e, st.Type)
	}
	if e, _ := h.stat(3, "target/", false); e != errnoNotdir {
		t.Errorf("stat \"target/\": %v", e)
	}
	if e, _ := h.stat(3, "loop", true); e != errnoLoop {
		t.Errorf("stat of a self link: %v", e)
	}

	if e, got := h.readlink(3, "link", 64); e != errnoSuccess || got != "target" {
		t.Errorf("readlink: %v %q", e, got)
	}
	if e, got := h.readlink(3, "link", 3); e != errnoSuccess || got != "tar" {
		t.Errorf("readlink into 3 bytes: %v %q", e, got)
	}
	if e, _ := h.readlink(3, "target", 64); e != errnoInval {
		t.Errorf("readlink of a file: %v", e)
	}
	if e, _ := h.readlink(3, "dlink/", 64); e != errnoInval {
		t.Errorf("readlink of \"dlink/\": %v", e)
	}
	p, n := h.str("link")
	h.want(errnoFault, "path_readlink", 3, p, n, bad, 8, uint64(h.alloc(4)))
	h.want(errnoFault, "path_readlink", 3, p, n, uint64(h.alloc(8)), 8, bad)

	// Times of the link itself, or of its target.
	old := uint64(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	h.ok("path_filestat_set_times", 3, 0, p, n, 0, old, uint64(fstMtim))
	if _, st := h.stat(3, "link", false); st.Mtim != old {
		t.Errorf("link mtim %d, want %d", st.Mtim, old)
	}
	if _, st := h.stat(3, "target", false); st.Mtim == old {
		t.Error("setting a link's times without following changed its target")
	}
	h.ok("path_filestat_set_times", 3, uint64(lookupSymlinkFollow), p, n, 0, old, uint64(fstMtim))
	if _, st := h.stat(3, "target", false); st.Mtim != old {
		t.Error("following the link did not change its target")
	}
	h.want(errnoInval, "path_filestat_set_times", 3, 0, p, n, 0, old, uint64(fstMtim|fstMtimNow))
	h.want(errnoInval, "path_filestat_set_times", 3, 2, p, n, 0, old, uint64(fstMtim))

	// Symlink creation.
	if e := h.symlink("target", 3, "link"); e != errnoExist {
		t.Errorf("symlink over a link: %v", e)
	}
	if e := h.symlink("x", 3, "newlink/"); e != errnoNoent {
		t.Errorf("symlink at \"newlink/\": %v", e)
	}
	if e := h.symlink("x", 3, "dir/"); e != errnoExist {
		t.Errorf("symlink at \"dir/\": %v", e)
	}
	if e := h.symlink("x", 3, "target/"); e != errnoNotdir {
		t.Errorf("symlink at \"target/\": %v", e)
	}
	if e := h.symlink("", 3, "empty"); e != errnoNoent {
		t.Errorf("symlink to \"\": %v", e)
	}
}

func TestPathCreateRemove(t *testing.T) {
	h := newHarness(t)
	h.writeHost("file", "")
	must := func(want errno, name string, path string) {
		t.Helper()
		if e := h.path(name, 3, path); e != want {
			t.Errorf("%s(%q) = %v, want %v", name, path, e, want)
		}
	}
	must(errnoSuccess, "path_create_directory", "d")
	must(errnoSuccess, "path_create_directory", "d/e/")
	must(errnoExist, "path_create_directory", "d")
	must(errnoExist, "path_create_directory", ".")
	must(errnoNoent, "path_create_directory", "x/y")
	must(errnoNotdir, "path_create_directory", "file/y")
	must(errnoNotempty, "path_remove_directory", "d")
	must(errnoNotdir, "path_remove_directory", "file")
	must(errnoNotdir, "path_remove_directory", "file/")
	must(errnoInval, "path_remove_directory", ".")
	must(errnoIsdir, "path_unlink_file", "d")
	must(errnoIsdir, "path_unlink_file", "d/")
	must(errnoNotdir, "path_unlink_file", "file/")
	must(errnoNoent, "path_unlink_file", "missing")
	must(errnoIsdir, "path_unlink_file", ".")
	must(errnoSuccess, "path_remove_directory", "d/e/")
	must(errnoSuccess, "path_remove_directory", "d")
	must(errnoSuccess, "path_unlink_file", "file")
	if exists(h.hostPath("d")) || exists(h.hostPath("file")) {
		t.Error("removed paths still exist")
	}
	for _, name := range []string{"path_create_directory", "path_remove_directory", "path_unlink_file"} {
		h.want(errnoFault, name, 3, bad, 4)
		h.want(errnoBadf, name, 9, 0, 0)
		h.want(errnoNotdir, name, 0, 0, 0)
		must(errnoNoent, name, "")
	}
	h.ok("fd_fdstat_set_rights", 3, 0, 0)
	for _, name := range []string{"path_create_directory", "path_remove_directory", "path_unlink_file"} {
		must(errnoNotcapable, name, "x")
	}
}

func TestPathRenameLink(t *testing.T) {
	h := newHarness(t)
	h.writeHost("a", "A")
	os.Mkdir(h.hostPath("dir"), 0o755)
	os.Mkdir(h.hostPath("full"), 0o755)
	h.writeHost("full/x", "")
	cases := []struct {
		from, to string
		want     errno
	}{
		{"a", "dir", errnoIsdir},
		{"dir", "full", errnoNotempty},
		{"dir", "a", errnoNotdir},
		{"a/", "b", errnoNotdir},
		{"a", "b/", errnoNotdir},
		{"missing", "b", errnoNoent},
		{".", "b", errnoBusy},
		{"a", "b", errnoSuccess},
		{"dir/", "dir2/", errnoSuccess},
		{"dir2", "dir", errnoSuccess},
	}
	for _, c := range cases {
		if e := h.rename(3, c.from, 3, c.to); e != c.want {
			t.Errorf("rename %q to %q: %v, want %v", c.from, c.to, e, c.want)
		}
	}
	if h.readHost("b") != "A" || exists(h.hostPath("a")) {
		t.Error("rename a to b did not move it")
	}

	links := []struct {
		from, to string
		follow   bool
		want     errno
	}{
		{"b", "c", false, errnoSuccess},
		{"b", "c", false, errnoExist},
		{"b", "dir", false, errnoExist},
		{"b", "new/", false, errnoNoent},
		{"dir", "d2", false, errnoPerm},
		{"b/", "d2", false, errnoNotdir},
		{"missing", "d2", false, errnoNoent},
	}
	for _, c := range links {
		if e := h.link(3, c.follow, c.from, 3, c.to); e != c.want {
			t.Errorf("link %q to %q: %v, want %v", c.from, c.to, e, c.want)
		}
	}
	// Linking a link makes a link, unless following.
	h.symlink("b", 3, "sym")
	h.link(3, false, "sym", 3, "sym2")
	if fi, _ := os.Lstat(h.hostPath("sym2")); fi == nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("link of a link without follow is not a link")
	}
	h.link(3, true, "sym", 3, "hard")
	var a, b = statIno(t, h.hostPath("hard")), statIno(t, h.hostPath("b"))
	if a != b {
		t.Error("link with follow did not link the target")
	}
	fp, fn := h.str("b")
	p, n := h.str("z")
	h.want(errnoInval, "path_link", 3, 2, fp, fn, 3, p, n)
	h.want(errnoFault, "path_rename", 3, bad, 1, 3, p, n)
	h.want(errnoFault, "path_link", 3, 0, fp, fn, 3, bad, 1)
	h.want(errnoBadf, "path_rename", 3, fp, fn, 17, p, n)
	h.want(errnoNotdir, "path_link", 0, 0, fp, fn, 3, p, n)
	h.ok("fd_fdstat_set_rights", 3, uint64(rightsDir&^(rightPathRenameTarget|rightPathLinkSource)), uint64(rightsAll))
	h.want(errnoNotcapable, "path_rename", 3, fp, fn, 3, p, n)
	h.want(errnoNotcapable, "path_link", 3, 0, fp, fn, 3, p, n)
}

func statIno(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestRenameLinkAcrossPreopens moves and links files between two preopened
// directories, and refuses it with a directory of another implementation.
func TestRenameLinkAcrossPreopens(t *testing.T) {
	other := t.TempDir()
	d, err := hostfs.Open(other)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Preopen("/other", d), Preopen("/fake", &fakeDir{}))
	h.writeHost("a", "A")
	h.writeHost("c", "C")
	if e := h.rename(3, "a", 4, "b"); e != errnoSuccess {
		t.Fatalf("rename across preopens: %v", e)
	}
	if e := h.link(3, false, "c", 4, "d"); e != errnoSuccess {
		t.Fatalf("link across preopens: %v", e)
	}
	if b, _ := os.ReadFile(filepath.Join(other, "b")); string(b) != "A" || exists(h.hostPath("a")) {
		t.Error("the file was not moved")
	}
	if b, _ := os.ReadFile(filepath.Join(other, "d")); string(b) != "C" || !exists(h.hostPath("c")) {
		t.Error("the file was not linked")
	}
	if e := h.rename(4, "../x", 3, "y"); e != errnoNotcapable {
		t.Errorf("rename from above the second preopen: %v", e)
	}
	if e := h.rename(3, "c", 5, "x"); e != errnoXdev {
		t.Errorf("rename to another implementation: %v", e)
	}
	if e := h.link(3, false, "c", 5, "x"); e != errnoXdev {
		t.Errorf("link to another implementation: %v", e)
	}
}

// neitherNode is a vfs.Node that is neither a File nor a Dir.
type neitherNode struct{ closed bool }

func (n *neitherNode) Type() vfs.FileType                { return vfs.TypeUnknown }
func (n *neitherNode) Stat() (vfs.Filestat, error)       { return vfs.Filestat{}, nil }
func (n *neitherNode) SetTimes(vfs.Time, vfs.Time) error { return nil }
func (n *neitherNode) Sync() error                       { return nil }
func (n *neitherNode) Datasync() error                   { return nil }
func (n *neitherNode) Close() error                      { n.closed = true; return nil }

// TestPathOpenOtherDir opens through a directory of another implementation,
// including broken answers, which must not crash the host.
func TestPathOpenOtherDir(t *testing.T) {
	sock, odd := &fakeSocket{}, &neitherNode{}
	d := &fakeDir{opens: []vfs.Node{sock, nil, odd}}
	h := newHarnessConfig(t, Config{FDs: []FD{Preopen("/", d)}})
	fd, e := h.tryOpen(0, 0, "s", 0, rightFdRead|rightFdWrite, 0)
	if e != errnoSuccess || fd != 1 {
		t.Fatalf("open of a socket node: %v %d", e, fd)
	}
	if vfs.FileType(h.mem.b[h.fdstat(fd)]) != vfs.TypeSocketStream {
		t.Error("not a socket")
	}
	if _, e := h.tryOpen(0, 0, "nil", 0, 0, 0); e != errnoIo {
		t.Errorf("a nil node: %v", e)
	}
	if _, e := h.tryOpen(0, 0, "odd", 0, 0, 0); e != errnoIo || !odd.closed {
		t.Errorf("a node neither file nor directory: %v, closed %v", e, odd.closed)
	}
	if _, e := h.tryOpen(0, 0, "x", 0, 0, 0); e != errnoNotsup {
		t.Errorf("a directory that cannot open: %v", e)
	}
}
