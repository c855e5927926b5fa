//go:build linux

package wasi

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

const rw = rightFdRead | rightFdWrite | rightFdSeek | rightFdTell | rightFdFilestatGet |
	rightFdFilestatSetSize | rightFdFilestatSetTimes | rightFdAdvise | rightFdAllocate |
	rightFdFdstatSetFlags | rightFdSync | rightFdDatasync

func TestFdWriteReadSeek(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	iov, n, _ := h.iovs([]byte("hello, "), nil, []byte("world"))
	out := h.alloc(4)
	h.ok("fd_write", uint64(fd), iov, n, uint64(out))
	if h.u32(out) != 12 || h.readHost("f") != "hello, world" {
		t.Fatalf("wrote %d bytes, file has %q", h.u32(out), h.readHost("f"))
	}
	pos := h.alloc(8)
	h.ok("fd_tell", uint64(fd), uint64(pos))
	if h.u64(pos) != 12 {
		t.Errorf("fd_tell = %d, want 12", h.u64(pos))
	}
	h.ok("fd_seek", uint64(fd), uint64(7), uint64(whenceSet), uint64(pos))
	if e, got := h.read(fd, 100); e != errnoSuccess || got != "world" {
		t.Errorf("read after seek: %v %q", e, got)
	}
	// Reads scatter over several buffers.
	h.ok("fd_seek", uint64(fd), 0, uint64(whenceSet), uint64(pos))
	iov, n, ptrs := h.iovs(make([]byte, 5), make([]byte, 0), make([]byte, 20))
	h.ok("fd_read", uint64(fd), iov, n, uint64(out))
	if h.u32(out) != 12 || string(h.bytes(ptrs[0], 5)) != "hello" || string(h.bytes(ptrs[2], 7)) != ", world" {
		t.Errorf("scattered read: %d bytes, %q %q", h.u32(out), h.bytes(ptrs[0], 5), h.bytes(ptrs[2], 7))
	}
	// End of file is a read of 0 bytes.
	if e, got := h.read(fd, 10); e != errnoSuccess || got != "" {
		t.Errorf("read at end: %v %q", e, got)
	}
	neg := -3
	h.ok("fd_seek", uint64(fd), uint64(neg), uint64(whenceEnd), uint64(pos))
	if h.u64(pos) != 9 {
		t.Errorf("seek -3 from end = %d", h.u64(pos))
	}
	h.ok("fd_seek", uint64(fd), 2, uint64(whenceCur), uint64(pos))
	if h.u64(pos) != 11 {
		t.Errorf("seek +2 from current = %d", h.u64(pos))
	}
	neg = -100
	h.want(errnoInval, "fd_seek", uint64(fd), uint64(neg), uint64(whenceCur), uint64(pos))
	h.want(errnoInval, "fd_seek", uint64(fd), 0, 3, uint64(pos))
	h.want(errnoFault, "fd_seek", uint64(fd), 0, uint64(whenceSet), bad)
	h.want(errnoFault, "fd_tell", uint64(fd), bad)
}

func TestFdReadWriteErrors(t *testing.T) {
	h := newHarness(t)
	ro := h.open("f", uint32(oflagCreat), rightFdRead, 0)
	iov, n, _ := h.iovs([]byte("data"))
	out := h.alloc(4)
	for _, fn := range []string{"fd_read", "fd_write"} {
		h.want(errnoBadf, fn, 99, iov, n, uint64(out))
		h.want(errnoBadf, fn, 1<<32-1, iov, n, uint64(out))
		h.want(errnoIsdir, fn, 3, iov, n, uint64(out))
	}
	h.want(errnoNotcapable, "fd_write", uint64(ro), iov, n, uint64(out))
	wo := h.open("f", 0, rightFdWrite, 0)
	h.want(errnoNotcapable, "fd_read", uint64(wo), iov, n, uint64(out))

	// Bad pointers are faults, and nothing is written then.
	h.want(errnoFault, "fd_write", uint64(wo), bad, 1, uint64(out))
	h.want(errnoFault, "fd_write", uint64(wo), iov, n, bad)
	badIov := h.alloc(8)
	le.PutUint32(h.mem.b[badIov:], memSize-2)
	le.PutUint32(h.mem.b[badIov+4:], 4)
	h.want(errnoFault, "fd_write", uint64(wo), uint64(badIov), 1, uint64(out))
	h.want(errnoFault, "fd_read", uint64(ro), uint64(badIov), 1, uint64(out))
	h.want(errnoFault, "fd_write", uint64(wo), uint64(memSize-8), 2, uint64(out))
	if got := h.readHost("f"); got != "" {
		t.Errorf("a faulting fd_write wrote %q", got)
	}
	h.want(errnoInval, "fd_write", uint64(wo), iov, maxIovecs+1, uint64(out))
	// A zero-length buffer is valid wherever it points, and so is an empty
	// iovec array.
	le.PutUint32(h.mem.b[badIov+4:], 0)
	h.ok("fd_write", uint64(wo), uint64(badIov), 1, uint64(out))
	h.ok("fd_write", uint64(wo), bad, 0, uint64(out))
	if h.u32(out) != 0 {
		t.Errorf("empty write wrote %d", h.u32(out))
	}
}

func TestFdstat(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	reg, err := os.Create(t.TempDir() + "/stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	h := newHarness(t, Stream(pr, true, false), Stream(reg, false, true))
	file := h.open("f", uint32(oflagCreat), rw, uint32(fdflagAppend))
	cases := []struct {
		fd      uint32
		typ     vfs.FileType
		flags   uint16
		base    rights
		inherit rights
	}{
		{0, vfs.TypeCharacterDevice, 0, rightsStream | rightFdSeek | rightFdTell, 0},
		{3, vfs.TypeDirectory, 0, rightsDir, rightsAll},
		{4, vfs.TypeUnknown, 0, rightsStream &^ rightFdWrite, 0},
		{5, vfs.TypeRegularFile, 0, rightsFile &^ rightsRead, 0},
		{file, vfs.TypeRegularFile, fdflagAppend, rw, rightsAll},
	}
	buf := h.alloc(fdstatSize)
	for _, c := range cases {
		h.mem.b[buf+1] = 0xff // padding is cleared
		h.ok("fd_fdstat_get", uint64(c.fd), uint64(buf))
		b := h.bytes(buf, fdstatSize)
		if vfs.FileType(b[0]) != c.typ || b[1] != 0 || le.Uint16(b[2:]) != c.flags ||
			rights(le.Uint64(b[8:])) != c.base || rights(le.Uint64(b[16:])) != c.inherit {
			t.Errorf("fd %d: fdstat type %d flags %#x rights %#x/%#x, want %d %#x %#x/%#x",
				c.fd, b[0], le.Uint16(b[2:]), le.Uint64(b[8:]), le.Uint64(b[16:]), c.typ, c.flags, c.base, c.inherit)
		}
	}
	h.want(errnoBadf, "fd_fdstat_get", 77, uint64(buf))
	h.want(errnoFault, "fd_fdstat_get", 3, bad)
}

func TestFdstatSetFlags(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	h.write(fd, "0123456789")
	pos := h.alloc(8)
	h.ok("fd_seek", uint64(fd), 2, uint64(whenceSet), uint64(pos))
	h.ok("fd_fdstat_set_flags", uint64(fd), uint64(fdflagAppend))
	h.write(fd, "A")
	h.ok("fd_fdstat_set_flags", uint64(fd), 0)
	h.ok("fd_seek", uint64(fd), 0, uint64(whenceSet), uint64(pos))
	h.write(fd, "B")
	if got := h.readHost("f"); got != "B123456789A" {
		t.Errorf("append on, then off: file is %q", got)
	}
	buf := h.alloc(fdstatSize)
	h.ok("fd_fdstat_set_flags", uint64(fd), uint64(fdflagNonblock|fdflagAppend))
	h.ok("fd_fdstat_get", uint64(fd), uint64(buf))
	if got := le.Uint16(h.mem.b[buf+2:]); got != fdflagNonblock|fdflagAppend {
		t.Errorf("flags %#x after setting NONBLOCK|APPEND", got)
	}
	h.want(errnoInval, "fd_fdstat_set_flags", uint64(fd), 1<<5)
	h.want(errnoNotsup, "fd_fdstat_set_flags", uint64(fd), uint64(fdflagSync))
	h.want(errnoNotsup, "fd_fdstat_set_flags", 3, uint64(fdflagAppend))
	h.ok("fd_fdstat_set_flags", 3, uint64(fdflagNonblock))
	h.want(errnoBadf, "fd_fdstat_set_flags", 9, 0)
	noflags := h.open("f", 0, rightFdWrite, 0)
	h.want(errnoNotcapable, "fd_fdstat_set_flags", uint64(noflags), uint64(fdflagAppend))
}

func TestFdstatSetRights(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rightFdRead|rightFdWrite|rightFdSeek, 0)
	h.ok("fd_fdstat_set_rights", uint64(fd), uint64(rightFdWrite|rightFdSeek), 0)
	if e, _ := h.read(fd, 1); e != errnoNotcapable {
		t.Errorf("read after dropping FD_READ: %v", e)
	}
	if e, _ := h.write(fd, "x"); e != errnoSuccess {
		t.Errorf("write after dropping FD_READ: %v", e)
	}
	h.want(errnoNotcapable, "fd_fdstat_set_rights", uint64(fd), uint64(rightFdWrite|rightFdRead), 0)
	h.want(errnoNotcapable, "fd_fdstat_set_rights", uint64(fd), uint64(rightFdWrite), 1)
	h.want(errnoBadf, "fd_fdstat_set_rights", 99, 0, 0)
	// A directory passes on no more than its inheriting rights.
	h.ok("fd_fdstat_set_rights", 3, uint64(rightsDir), uint64(rightFdRead))
	fd2 := h.open("f", 0, rightFdRead|rightFdWrite, 0)
	buf := h.alloc(fdstatSize)
	h.ok("fd_fdstat_get", uint64(fd2), uint64(buf))
	if got := rights(h.u64(buf + 8)); got != rightFdRead {
		t.Errorf("rights %#x from a directory passing on FD_READ only", got)
	}
	if e, _ := h.write(fd2, "x"); e != errnoNotcapable {
		t.Errorf("write without the right: %v", e)
	}
}

func TestFilestat(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	h.write(fd, "abc")
	buf := h.alloc(filestatSize)
	h.ok("fd_filestat_get", uint64(fd), uint64(buf))
	var st unix.Stat_t
	if err := unix.Stat(h.hostPath("f"), &st); err != nil {
		t.Fatal(err)
	}
	if h.u64(buf) != st.Dev || h.u64(buf+8) != st.Ino || h.mem.b[buf+16] != byte(vfs.TypeRegularFile) ||
		h.u64(buf+24) != 1 || h.u64(buf+32) != 3 || h.u64(buf+48) != uint64(st.Mtim.Nano()) {
		t.Errorf("filestat % x does not match the host's %+v", h.bytes(buf, filestatSize), st)
	}
	h.ok("fd_filestat_set_size", uint64(fd), 10)
	if fi, _ := os.Stat(h.hostPath("f")); fi.Size() != 10 {
		t.Errorf("size %d after set_size 10", fi.Size())
	}
	h.want(errnoFbig, "fd_filestat_set_size", uint64(fd), 1<<63)
	h.want(errnoIsdir, "fd_filestat_set_size", 3, 0)

	mtim := uint64(time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC).UnixNano())
	atimBefore := h.u64(buf + 40)
	h.ok("fd_filestat_set_times", uint64(fd), 0, mtim, uint64(fstMtim))
	h.ok("fd_filestat_get", uint64(fd), uint64(buf))
	if h.u64(buf+48) != mtim || h.u64(buf+40) != atimBefore {
		t.Errorf("after setting mtim only: atim %d (was %d), mtim %d, want %d", h.u64(buf+40), atimBefore, h.u64(buf+48), mtim)
	}
	h.ok("fd_filestat_set_times", uint64(fd), 0, 0, uint64(fstAtimNow|fstMtimNow))
	h.ok("fd_filestat_get", uint64(fd), uint64(buf))
	if h.u64(buf+48) <= mtim {
		t.Errorf("MTIM_NOW left mtim at %d", h.u64(buf+48))
	}
	for _, fst := range []uint16{fstAtim | fstAtimNow, fstMtim | fstMtimNow, 1 << 4} {
		h.want(errnoInval, "fd_filestat_set_times", uint64(fd), 0, 0, uint64(fst))
	}
	// Directories have times too.
	h.ok("fd_filestat_set_times", 3, mtim, mtim, uint64(fstAtim|fstMtim))
	h.ok("fd_filestat_get", 3, uint64(buf))
	if h.u64(buf+48) != mtim || h.mem.b[buf+16] != byte(vfs.TypeDirectory) {
		t.Errorf("directory mtim %d type %d", h.u64(buf+48), h.mem.b[buf+16])
	}
	h.want(errnoFault, "fd_filestat_get", uint64(fd), bad)
	h.want(errnoBadf, "fd_filestat_get", 50, uint64(buf))
	h.want(errnoNotcapable, "fd_filestat_get", uint64(h.open("f", 0, rightFdRead, 0)), uint64(buf))
}

func TestPreadPwrite(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	h.write(fd, "0123456789")
	pos := h.alloc(8)
	h.ok("fd_seek", uint64(fd), 1, uint64(whenceSet), uint64(pos))
	iov, n, _ := h.iovs([]byte("ab"), []byte("cd"))
	out := h.alloc(4)
	h.ok("fd_pwrite", uint64(fd), iov, n, 5, uint64(out))
	if h.u32(out) != 4 || h.readHost("f") != "01234abcd9" {
		t.Errorf("pwrite: %d bytes, file %q", h.u32(out), h.readHost("f"))
	}
	iov, n, ptrs := h.iovs(make([]byte, 3), make([]byte, 3))
	h.ok("fd_pread", uint64(fd), iov, n, 4, uint64(out))
	if h.u32(out) != 6 || string(h.bytes(ptrs[0], 3))+string(h.bytes(ptrs[1], 3)) != "4abcd9" {
		t.Errorf("pread: %d bytes", h.u32(out))
	}
	h.ok("fd_tell", uint64(fd), uint64(pos))
	if h.u64(pos) != 1 {
		t.Errorf("pread and pwrite moved the offset to %d", h.u64(pos))
	}
	h.want(errnoInval, "fd_pread", uint64(fd), iov, n, 1<<63, uint64(out))
	h.want(errnoInval, "fd_pwrite", uint64(fd), iov, n, 1<<63, uint64(out))
	h.want(errnoFault, "fd_pread", uint64(fd), iov, n, 0, bad)
	h.want(errnoFault, "fd_pwrite", uint64(fd), bad, 1, 0, uint64(out))
	h.want(errnoIsdir, "fd_pread", 3, iov, n, 0, uint64(out))
	noseek := h.open("f", 0, rightFdRead|rightFdWrite, 0)
	h.want(errnoNotcapable, "fd_pread", uint64(noseek), iov, n, 0, uint64(out))
	h.want(errnoNotcapable, "fd_pwrite", uint64(noseek), iov, n, 0, uint64(out))
}

func TestSeekRights(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rightFdTell, 0)
	pos := h.alloc(8)
	h.ok("fd_seek", uint64(fd), 0, uint64(whenceCur), uint64(pos)) // a tell
	h.want(errnoNotcapable, "fd_seek", uint64(fd), 1, uint64(whenceCur), uint64(pos))
	h.want(errnoNotcapable, "fd_seek", uint64(fd), 0, uint64(whenceSet), uint64(pos))
	h.want(errnoIsdir, "fd_seek", 3, 0, uint64(whenceCur), uint64(pos))
	h.want(errnoIsdir, "fd_tell", 3, uint64(pos))
	none := h.open("f", 0, 0, 0)
	h.want(errnoNotcapable, "fd_tell", uint64(none), uint64(pos))
}

func TestAdviseAllocate(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	for a := uint64(0); a <= 5; a++ {
		h.ok("fd_advise", uint64(fd), 0, 100, a)
	}
	h.want(errnoInval, "fd_advise", uint64(fd), 0, 100, 6)
	h.want(errnoInval, "fd_advise", uint64(fd), 1<<63, 100, 0)
	h.want(errnoIsdir, "fd_advise", 3, 0, 0, 0)
	h.ok("fd_allocate", uint64(fd), 0, 100)
	h.ok("fd_allocate", uint64(fd), 90, 20)
	if fi, _ := os.Stat(h.hostPath("f")); fi.Size() != 110 {
		t.Errorf("size %d after allocating to 110", fi.Size())
	}
	h.want(errnoInval, "fd_allocate", uint64(fd), 0, 0)
	h.want(errnoFbig, "fd_allocate", uint64(fd), 1<<62, 1<<62)
	h.want(errnoInval, "fd_allocate", uint64(fd), 1<<63, 1)
	h.want(errnoIsdir, "fd_allocate", 3, 0, 1)
	ro := h.open("f", 0, rightFdRead, 0)
	h.want(errnoNotcapable, "fd_allocate", uint64(ro), 0, 1)
	h.want(errnoNotcapable, "fd_advise", uint64(ro), 0, 1, 0)
}

func TestSync(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	h.ok("fd_sync", uint64(fd))
	h.ok("fd_datasync", uint64(fd))
	h.ok("fd_sync", 3)
	h.ok("fd_datasync", 3)
	h.want(errnoBadf, "fd_sync", 40)
	ro := h.open("f", 0, rightFdRead, 0)
	h.want(errnoNotcapable, "fd_sync", uint64(ro))
	h.want(errnoNotcapable, "fd_datasync", uint64(ro))
	h.want(errnoNotcapable, "fd_sync", 0) // Null: like /dev/null, fsync is meaningless
}

func TestCloseRenumber(t *testing.T) {
	h := newHarness(t)
	a := h.open("a", uint32(oflagCreat), rw, 0)
	b := h.open("b", uint32(oflagCreat), rw, 0)
	if a != 4 || b != 5 {
		t.Fatalf("opened fds %d and %d, want the lowest free, 4 and 5", a, b)
	}
	h.ok("fd_renumber", uint64(a), uint64(b))
	h.want(errnoBadf, "fd_close", uint64(a))
	h.write(b, "to a")
	if h.readHost("a") != "to a" || h.readHost("b") != "" {
		t.Errorf("after renumber a to b, writing to b wrote a=%q b=%q", h.readHost("a"), h.readHost("b"))
	}
	h.ok("fd_renumber", uint64(b), uint64(b))
	h.want(errnoBadf, "fd_renumber", uint64(a), uint64(b))
	h.want(errnoBadf, "fd_renumber", uint64(b), uint64(a))
	// The lowest free descriptor is reused.
	if c := h.open("c", uint32(oflagCreat), rw, 0); c != a {
		t.Errorf("opened fd %d, want the freed %d", c, a)
	}
	// Renumbering over stdout replaces it; stdout's slot is then the file.
	h.ok("fd_renumber", uint64(b), 1)
	h.write(1, "!")
	if h.readHost("a") != "to a!" {
		t.Errorf("after renumbering over stdout: %q", h.readHost("a"))
	}
	h.ok("fd_close", 1)
	h.want(errnoBadf, "fd_close", 1)
	// Closing a preopen is allowed.
	h.ok("fd_close", 3)
	h.want(errnoBadf, "fd_prestat_get", 3, uint64(h.alloc(8)))
}

func TestPrestat(t *testing.T) {
	d1, d2 := &fakeDir{}, &fakeDir{}
	h := newHarnessConfig(t, Config{FDs: []FD{Null(), Null(), Null(), Preopen("/", d1), Preopen("/data/x", d2)}})
	buf := h.alloc(prestatSize)
	for fd, name := range map[uint32]string{3: "/", 4: "/data/x"} {
		h.mem.b[buf+1] = 0xee
		h.ok("fd_prestat_get", uint64(fd), uint64(buf))
		if h.mem.b[buf] != preopentypeDir || h.mem.b[buf+1] != 0 || h.u32(buf+4) != uint32(len(name)) {
			t.Errorf("fd %d: prestat % x", fd, h.bytes(buf, prestatSize))
		}
		out := h.alloc(32)
		h.ok("fd_prestat_dir_name", uint64(fd), uint64(out), 32)
		if got := h.bytes(out, 32); string(got[:len(name)]) != name || got[len(name)] != 0 {
			t.Errorf("fd %d: name % x, want %q and nothing after", fd, got, name)
		}
		h.want(errnoNametoolong, "fd_prestat_dir_name", uint64(fd), uint64(out), uint64(len(name)-1))
		h.want(errnoFault, "fd_prestat_dir_name", uint64(fd), bad, 32)
	}
	h.want(errnoBadf, "fd_prestat_get", 0, uint64(buf)) // not a preopen
	h.want(errnoBadf, "fd_prestat_get", 5, uint64(buf)) // the end of the preopens
	h.want(errnoBadf, "fd_prestat_dir_name", 2, uint64(buf), 8)
	h.want(errnoFault, "fd_prestat_get", 3, bad)
	if err := h.s.Close(); err != nil || !d1.closed || !d2.closed {
		t.Errorf("Close = %v; preopens closed: %v %v", err, d1.closed, d2.closed)
	}
}

func TestNull(t *testing.T) {
	h := newHarness(t)
	if e, n := h.write(1, "discarded"); e != errnoSuccess || n != 9 {
		t.Errorf("write to Null: %v %d", e, n)
	}
	if e, got := h.read(0, 10); e != errnoSuccess || got != "" {
		t.Errorf("read from Null: %v %q", e, got)
	}
	pos := h.alloc(8)
	h.ok("fd_seek", 0, 5, uint64(whenceSet), uint64(pos))
	buf := h.alloc(filestatSize)
	h.ok("fd_filestat_get", 1, uint64(buf))
	if h.mem.b[buf+16] != byte(vfs.TypeCharacterDevice) {
		t.Errorf("Null is of type %d", h.mem.b[buf+16])
	}
}

// TestStreamPipe checks a Stream over a pipe: reads wait for data without
// spinning, NONBLOCK reads fail with EAGAIN, and the host descriptor keeps
// its blocking mode.
func TestStreamPipe(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil { // blocking, like a shared stdin
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(p[0]), "r"), os.NewFile(uintptr(p[1]), "w")
	defer r.Close()
	defer w.Close()
	out1, out2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out1.Close()
	defer out2.Close()
	h := newHarnessConfig(t, Config{FDs: []FD{Stream(r, true, false), Stream(out2, false, true)}})

	go func() {
		time.Sleep(10 * time.Millisecond) // most likely after the read has started waiting
		w.Write([]byte("ping"))
	}()
	if e, got := h.read(0, 10); e != errnoSuccess || got != "ping" {
		t.Errorf("blocking read: %v %q", e, got)
	}
	h.ok("fd_fdstat_set_flags", 0, uint64(fdflagNonblock))
	if e, _ := h.read(0, 10); e != errnoAgain {
		t.Errorf("NONBLOCK read of an empty pipe: %v, want AGAIN", e)
	}
	if fl, _ := unix.FcntlInt(uintptr(p[0]), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
		t.Error("the guest's NONBLOCK reached the host descriptor")
	}
	w.Write([]byte("pong"))
	if e, got := h.read(0, 10); e != errnoSuccess || got != "pong" {
		t.Errorf("NONBLOCK read with data: %v %q", e, got)
	}
	h.ok("fd_fdstat_set_flags", 0, 0)

	// A blocked read ends when the call's context does.
	ctx, cancel := context.WithCancel(context.Background())
	h.ctx = ctx
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	if e, _ := h.read(0, 10); e != errnoCanceled {
		t.Errorf("read when the context ends: %v, want CANCELED", e)
	}
	h.ctx = context.Background()

	// Writes go straight to the host file; the write end cannot be read.
	if e, n := h.write(1, "out"); e != errnoSuccess || n != 3 {
		t.Errorf("write to a pipe: %v %d", e, n)
	}
	got := make([]byte, 3)
	if _, err := out1.Read(got); err != nil || string(got) != "out" {
		t.Errorf("the pipe got %q, %v", got, err)
	}
	if e, _ := h.read(1, 1); e != errnoNotcapable {
		t.Errorf("read from a write-only stream: %v", e)
	}
	if e, _ := h.write(0, "x"); e != errnoNotcapable {
		t.Errorf("write to a read-only stream: %v", e)
	}
	pos := h.alloc(8)
	h.want(errnoNotcapable, "fd_seek", 0, 0, uint64(whenceSet), uint64(pos))

	// End of file: the writer is gone.
	w.Close()
	if e, got := h.read(0, 10); e != errnoSuccess || got != "" {
		t.Errorf("read at end of pipe: %v %q", e, got)
	}
	// The System never closes a Stream's file.
	h.s.Close()
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFD, 0); err != nil {
		t.Errorf("the stream's descriptor was closed: %v", err)
	}
}

func TestStreamOfDirectory(t *testing.T) {
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := New(Config{FDs: []FD{Stream(d, true, true)}}); err == nil || !strings.Contains(err.Error(), "is a directory; use Preopen") {
		t.Errorf("Stream of a directory: %v", err)
	}
}

// TestFdWriteAllocs checks the hot path: fd_write of a small buffer, as
// hello world calls it, allocates nothing.
func TestFdWriteAllocs(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := newHarness(t, Stream(f, false, true))
	file := h.open("f", uint32(oflagCreat), rw, 0)
	iov, n, _ := h.iovs([]byte("hello, "), []byte("world\n"))
	out := h.alloc(4)
	fn := h.funcs["fd_write"]
	caller := &fakeCaller{mem: h.mem}
	for _, fd := range []uint32{1, 4, file} {
		stack := make([]uint64, 4)
		allocs := testing.AllocsPerRun(100, func() {
			stack[0], stack[1], stack[2], stack[3] = uint64(fd), iov, n, uint64(out)
			fn.Call(h.ctx, caller, stack)
		})
		if errno(stack[0]) != errnoSuccess || h.u32(out) != 13 {
			t.Fatalf("fd %d: fd_write = %v, %d bytes", fd, errno(stack[0]), h.u32(out))
		}
		if allocs != 0 {
			t.Errorf("fd_write to fd %d allocates %.1f times per call", fd, allocs)
		}
	}
}

func TestCloseClosesEverything(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	f := h.s.fds[fd].file
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Writev([][]byte{[]byte("x")}); err != syscall.EBADF {
		t.Errorf("write after Close: %v, want EBADF", err)
	}
	if err := h.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// BenchmarkFdWrite measures fd_write of a small buffer, the call hello
// world makes, to Null and to /dev/null through a Stream.
func BenchmarkFdWrite(b *testing.B) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := newHarness(b, Stream(f, false, true))
	iov, n, _ := h.iovs([]byte("hello, world\n"))
	out := h.alloc(4)
	fn := h.funcs["fd_write"]
	caller := &fakeCaller{mem: h.mem}
	stack := make([]uint64, 4)
	for _, fd := range []uint64{1, 4} {
		b.Run(map[uint64]string{1: "Null", 4: "devnull"}[fd], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				stack[0], stack[1], stack[2], stack[3] = fd, iov, n, uint64(out)
				fn.Call(h.ctx, caller, stack)
			}
			if errno(stack[0]) != errnoSuccess {
				b.Fatal(errno(stack[0]))
			}
		})
	}
}
