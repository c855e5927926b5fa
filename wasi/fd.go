//go:build linux

package wasi

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/hostfs"
	"donjon.dev/wasi/vfs"
)

// FD is something to hand to a guest as a file descriptor, for Config.FDs.
// Build it with Null, Stream, Preopen or Socket; each FD fills one slot.
type FD struct {
	e   *entry
	err error
}

// entry is one slot of the descriptor table.
type entry struct {
	file    vfs.File   // set for files, streams and sockets
	dir     vfs.Dir    // set for directories
	sock    vfs.Socket // set for sockets, along with file
	ftype   vfs.FileType
	base    rights // what the descriptor allows
	inherit rights // what descriptors opened from it may get
	flags   uint16 // fdflags

	preopen   string // a preopened directory's guest path
	isPreopen bool

	pollfd   int          // host descriptor to poll(2) for readiness, or -1
	notifier vfs.Notifier // readiness decided in Go, or nil
	notified uint64       // the System's waits when Notify was last armed

	cursor *dirCursor // fd_readdir position
}

func (e *entry) node() vfs.Node {
	if e.dir != nil {
		return e.dir
	}
	return e.file
}

func (e *entry) nonblock() bool { return e.flags&fdflagNonblock != 0 }

func (e *entry) close() error { return e.node().Close() }

// newEntry wraps an opened file or directory. base is cut down to what the
// node's type allows.
func newEntry(n vfs.Node, base, inherit rights, flags uint16) *entry {
	e := &entry{ftype: n.Type(), inherit: inherit, flags: flags, pollfd: -1}
	if d, ok := n.(vfs.Dir); ok {
		e.dir = d
		e.base = base & rightsDir
		return e
	}
	f := n.(vfs.File)
	e.file = f
	if s, ok := f.(vfs.Socket); ok {
		e.sock = s
	}
	if p, ok := f.(vfs.HostPollable); ok {
		e.pollfd = p.PollFD()
	}
	if nt, ok := f.(vfs.Notifier); ok {
		e.notifier = nt
	}
	e.base = base & typeRights(e.ftype, e.sock != nil, false)
	return e
}

// typeRights are the rights that make sense on a file of type t.
func typeRights(t vfs.FileType, socket, tty bool) rights {
	switch {
	case t == vfs.TypeDirectory:
		return rightsDir
	case socket:
		return rightsSocket
	case t == vfs.TypeRegularFile, t == vfs.TypeBlockDevice:
		return rightsFile
	case t == vfs.TypeCharacterDevice && !tty:
		// Seekable like /dev/null, and so not a terminal to isatty.
		return rightsStream | rightFdSeek | rightFdTell
	}
	return rightsStream
}

// Null is a descriptor like /dev/null: reads see end of file, writes are
// discarded.
func Null() FD {
	return FD{e: newEntry(nullFile{}, rightsAll, 0, 0)}
}

// Stream is a descriptor over a host file the caller keeps owning, such as
// os.Stdin: the System never closes it nor changes its blocking mode.
// Writes go straight to it. read and write say what the guest may do.
func Stream(f *os.File, read, write bool) FD {
	hf, err := hostfs.Borrow(f)
	if err != nil {
		return FD{err: err}
	}
	t := hf.Type()
	if t == vfs.TypeDirectory {
		return FD{err: fmt.Errorf("%s is a directory; use Preopen", f.Name())}
	}
	base := typeRights(t, false, hf.IsTerminal())
	if !read {
		base &^= rightsRead
	}
	if !write {
		base &^= rightsWrite
	}
	var flags uint16
	if fl, err := hf.HostFlags(); err == nil && fl&unix.O_APPEND != 0 {
		flags |= fdflagAppend
	}
	e := newEntry(hf, rightsAll, 0, flags)
	e.base &= base
	return FD{e: e}
}

// Preopen is a directory the guest finds at startup under guestPath, such
// as "/" or "/data". The guest may do anything beneath dir and nothing
// outside it.
func Preopen(guestPath string, dir vfs.Dir) FD {
	switch {
	case dir == nil:
		return FD{err: errors.New("preopen of a nil directory")}
	case guestPath == "":
		return FD{err: errors.New("preopen with an empty guest path; use \"/\" or a name")}
	}
	for i := 0; i < len(guestPath); i++ {
		if guestPath[i] == 0 {
			return FD{err: fmt.Errorf("preopen guest path %q contains a NUL byte", guestPath)}
		}
	}
	e := newEntry(dir, rightsAll, rightsAll, 0)
	e.preopen, e.isPreopen = guestPath, true
	return FD{e: e}
}

// Socket is a descriptor over a listening or connected socket: fd_read,
// fd_write, sock_* and poll_oneoff work on it. Connections it accepts get
// the same rights.
func Socket(s vfs.Socket) FD {
	if s == nil {
		return FD{err: errors.New("socket is nil")}
	}
	return FD{e: newEntry(s, rightsAll, rightsSocket, 0)}
}

// nullFile is the file behind Null, behaving as Linux's /dev/null.
type nullFile struct{}

func (nullFile) Type() vfs.FileType { return vfs.TypeCharacterDevice }
func (nullFile) Stat() (vfs.Filestat, error) {
	return vfs.Filestat{Type: vfs.TypeCharacterDevice, Nlink: 1}, nil
}
func (nullFile) SetTimes(vfs.Time, vfs.Time) error { return nil }
func (nullFile) Sync() error                       { return syscall.EINVAL }
func (nullFile) Datasync() error                   { return syscall.EINVAL }
func (nullFile) Close() error                      { return nil }
func (nullFile) Readv([][]byte) (int, error)       { return 0, nil }
func (nullFile) Writev(iovs [][]byte) (int, error) { return total(iovs), nil }
func (nullFile) Preadv([][]byte, int64) (int, error) {
	return 0, nil
}
func (nullFile) Pwritev(iovs [][]byte, _ int64) (int, error) { return total(iovs), nil }
func (nullFile) Seek(int64, int) (int64, error)              { return 0, nil }
func (nullFile) Truncate(int64) error                        { return syscall.EINVAL }
func (nullFile) Allocate(int64, int64) error                 { return syscall.ENODEV }
func (nullFile) Advise(int64, int64, vfs.Advice) error       { return nil }
func (nullFile) SetAppend(bool) error                        { return nil }

func total(iovs [][]byte) int {
	n := 0
	for _, b := range iovs {
		n += len(b)
	}
	return n
}
