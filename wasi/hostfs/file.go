//go:build linux

// Package hostfs implements the vfs contract over the host's filesystem:
// directories as capabilities over os.Root, and open files and streams as
// host descriptors driven with raw system calls.
//
// Path resolution goes through os.Root, which never leaves the directory it
// was opened on. Where os.Root has no operation with the semantics WASI
// needs (open without following a final symbolic link, timestamps of a link
// itself, unlink versus rmdir, trailing slashes), the parent directory is
// opened through the root and the operation is a single *at system call on
// the last path component. Symbolic links in that last component are read
// and followed here, through the root again.
package hostfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"donjon.dev/internal/hostsys"
	"donjon.dev/wasi/vfs"
)

// File is an open host file: a regular file or device opened through a Dir,
// or a stream (stdio, pipe, terminal) from Borrow.
type File struct {
	fd       int
	typ      vfs.FileType
	borrowed *os.File // non-nil for Borrow: the owner keeps and closes it
	closed   bool
}

var (
	_ vfs.File         = (*File)(nil)
	_ vfs.HostPollable = (*File)(nil)
)

// Borrow wraps f, typically os.Stdin, os.Stdout or os.Stderr, without taking
// ownership: Close leaves f open, and the blocking mode of f is left as it
// is (package wasi never needs O_NONBLOCK on a shared descriptor).
func Borrow(f *os.File) (*File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("hostfs: %s: %w", f.Name(), err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return nil, fmt.Errorf("hostfs: %s: %w", f.Name(), err)
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("hostfs: stat %s: %w", f.Name(), err)
	}
	return &File{fd: fd, typ: socketType(fd, fileType(st.Mode)), borrowed: f}, nil
}

// HostFlags reports the host's file status flags of the descriptor (O_APPEND
// and so on), for fdstat.
func (f *File) HostFlags() (int, error) {
	return unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
}

// IsTerminal reports whether f is a terminal.
func (f *File) IsTerminal() bool {
	_, err := unix.IoctlGetTermios(f.fd, unix.TCGETS)
	return err == nil
}

// Type implements vfs.Node.
func (f *File) Type() vfs.FileType { return f.typ }

// PollFD implements vfs.HostPollable: regular files and block devices are
// always ready.
func (f *File) PollFD() int {
	switch f.typ {
	case vfs.TypeRegularFile, vfs.TypeBlockDevice, vfs.TypeDirectory:
		return -1
	}
	return f.fd
}

// Readv implements vfs.File.
func (f *File) Readv(iovs [][]byte) (int, error) {
	for {
		var n int
		var err error
		if len(iovs) == 1 {
			n, err = unix.Read(f.fd, iovs[0])
		} else {
			n, err = unix.Readv(f.fd, iovs)
		}
		if err != unix.EINTR {
			return count(n, err)
		}
	}
}

// Writev implements vfs.File.
func (f *File) Writev(iovs [][]byte) (int, error) {
	for {
		var n int
		var err error
		if len(iovs) == 1 {
			n, err = unix.Write(f.fd, iovs[0])
		} else {
			n, err = unix.Writev(f.fd, iovs)
		}
		if err != unix.EINTR {
			return count(n, err)
		}
	}
}

// Preadv implements vfs.File.
func (f *File) Preadv(iovs [][]byte, offset int64) (int, error) {
	for {
		n, err := unix.Preadv(f.fd, iovs, offset)
		if err != unix.EINTR {
			return count(n, err)
		}
	}
}

// Pwritev implements vfs.File. On a file in append mode Linux appends,
// whatever the offset.
func (f *File) Pwritev(iovs [][]byte, offset int64) (int, error) {
	for {
		n, err := unix.Pwritev(f.fd, iovs, offset)
		if err != unix.EINTR {
			return count(n, err)
		}
	}
}

// Seek implements vfs.File.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	return unix.Seek(f.fd, offset, whence)
}

// Stat implements vfs.Node.
func (f *File) Stat() (vfs.Filestat, error) {
	var st unix.Stat_t
	if err := fstat(f.fd, &st); err != nil {
		return vfs.Filestat{}, err
	}
	fs := filestat(&st)
	if fs.Type == vfs.TypeSocketStream {
		fs.Type = f.typ
	}
	return fs, nil
}

// SetTimes implements vfs.Node.
func (f *File) SetTimes(atim, mtim vfs.Time) error {
	ts := hostsys.Timespecs(atim, mtim)
	return hostsys.Futimens(f.fd, &ts)
}

// Sync implements vfs.Node.
func (f *File) Sync() error { return hostsys.Retry(func() error { return unix.Fsync(f.fd) }) }

// Datasync implements vfs.Node.
func (f *File) Datasync() error { return hostsys.Retry(func() error { return unix.Fdatasync(f.fd) }) }

// Truncate implements vfs.File.
func (f *File) Truncate(size int64) error {
	return hostsys.Retry(func() error { return unix.Ftruncate(f.fd, size) })
}

// Allocate implements vfs.File: the file grows to offset+length if it is
// shorter. File systems without fallocate report ENOTSUP.
func (f *File) Allocate(offset, length int64) error {
	return hostsys.Retry(func() error { return unix.Fallocate(f.fd, 0, offset, length) })
}

// Advise implements vfs.File.
func (f *File) Advise(offset, length int64, advice vfs.Advice) error {
	var a int
	switch advice {
	case vfs.AdviceNormal:
		a = unix.FADV_NORMAL
	case vfs.AdviceSequential:
		a = unix.FADV_SEQUENTIAL
	case vfs.AdviceRandom:
		a = unix.FADV_RANDOM
	case vfs.AdviceWillNeed:
		a = unix.FADV_WILLNEED
	case vfs.AdviceDontNeed:
		a = unix.FADV_DONTNEED
	case vfs.AdviceNoReuse:
		a = unix.FADV_NOREUSE
	default:
		return unix.EINVAL
	}
	return unix.Fadvise(f.fd, offset, length, a)
}

// SetAppend implements vfs.File. A borrowed descriptor is shared with the
// host, so its status flags stay as they are: asking for the mode it is
// already in succeeds, anything else is ENOTSUP.
func (f *File) SetAppend(on bool) error {
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if (fl&unix.O_APPEND != 0) == on {
		return nil
	}
	if f.borrowed != nil {
		return unix.ENOTSUP
	}
	if on {
		fl |= unix.O_APPEND
	} else {
		fl &^= unix.O_APPEND
	}
	_, err = unix.FcntlInt(uintptr(f.fd), unix.F_SETFL, fl)
	return err
}

// Close implements vfs.Node. Closing a borrowed file leaves it open.
func (f *File) Close() error {
	if f.closed {
		return unix.EBADF
	}
	f.closed = true
	if f.borrowed != nil {
		return nil
	}
	return unix.Close(f.fd)
}

// count turns a system call result into a byte count that is never negative.
func count(n int, err error) (int, error) {
	if err != nil || n < 0 {
		return 0, err
	}
	return n, nil
}

func fstat(fd int, st *unix.Stat_t) error {
	return hostsys.Retry(func() error { return unix.Fstat(fd, st) })
}

func fileType(mode uint32) vfs.FileType {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return vfs.TypeRegularFile
	case unix.S_IFDIR:
		return vfs.TypeDirectory
	case unix.S_IFCHR:
		return vfs.TypeCharacterDevice
	case unix.S_IFBLK:
		return vfs.TypeBlockDevice
	case unix.S_IFLNK:
		return vfs.TypeSymbolicLink
	case unix.S_IFSOCK:
		return vfs.TypeSocketStream
	}
	return vfs.TypeUnknown
}

// socketType refines a socket's type with its socket type.
func socketType(fd int, t vfs.FileType) vfs.FileType {
	if t != vfs.TypeSocketStream {
		return t
	}
	if st, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && st == unix.SOCK_DGRAM {
		return vfs.TypeSocketDgram
	}
	return t
}

func filestat(st *unix.Stat_t) vfs.Filestat {
	return vfs.Filestat{
		Dev:   st.Dev,
		Ino:   st.Ino,
		Type:  fileType(st.Mode),
		Nlink: uint64(st.Nlink),
		Size:  uint64(max(st.Size, 0)),
		Atim:  hostsys.Nanos(st.Atim),
		Mtim:  hostsys.Nanos(st.Mtim),
		Ctim:  hostsys.Nanos(st.Ctim),
	}
}
