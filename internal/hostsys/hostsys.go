//go:build linux

// Package hostsys holds the Linux system-call helpers that the host-backed
// directories (package wasi/hostfs, plain; package sealfs, sealed) share:
// retrying interrupted calls, WASI times as timespecs, futimens, and
// reading directories with getdents64.
package hostsys

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

// Retry runs a system call until it is not interrupted.
func Retry(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}

// Timespecs gives the access and modification times of a set-times call
// as utimensat(2) takes them.
func Timespecs(atim, mtim vfs.Time) [2]unix.Timespec {
	return [2]unix.Timespec{timespec(atim), timespec(mtim)}
}

func timespec(t vfs.Time) unix.Timespec {
	switch t.Mode {
	case vfs.TimeNow:
		return unix.Timespec{Nsec: unix.UTIME_NOW}
	case vfs.TimeSet:
		return unix.Timespec{Sec: int64(t.Nanos / 1e9), Nsec: int64(t.Nanos % 1e9)}
	}
	return unix.Timespec{Nsec: unix.UTIME_OMIT}
}

// Nanos converts a timespec to nanoseconds since the epoch; WASI timestamps
// are unsigned, so times before 1970 read as 0.
func Nanos(ts unix.Timespec) uint64 {
	n := ts.Nano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// Futimens sets the times of the file open at fd: utimensat with a NULL
// path, which x/sys/unix does not expose.
func Futimens(fd int, ts *[2]unix.Timespec) error {
	return Retry(func() error {
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
		if e != 0 {
			return syscall.Errno(e)
		}
		return nil
	})
}

// Dirent is one entry of a host directory.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8 // DT_*
}

// DirentReader reads a host directory with getdents64, which gives inode
// numbers and types without a stat per entry. The zero value is ready.
type DirentReader struct {
	// Size is the buffer's size; zero means 16 KiB.
	Size     int
	buf      []byte
	pos, end int
	last     int // where the entry Parse returned last starts
}

// Buffered tells whether entries are left in the buffer.
func (r *DirentReader) Buffered() bool { return r.pos < r.end }

// Fill reads the next batch of entries of the directory open at fd into
// the buffer; more is false at the end of the directory.
func (r *DirentReader) Fill(fd int) (more bool, err error) {
	if r.buf == nil {
		size := r.Size
		if size <= 0 {
			size = 16 << 10
		}
		r.buf = make([]byte, size)
	}
	var n int
	err = Retry(func() (err error) {
		n, err = unix.Getdents(fd, r.buf)
		return err
	})
	if err != nil || n <= 0 {
		return false, err
	}
	r.pos, r.end = 0, n
	return true, nil
}

// Parse returns the next buffered entry, "." and ".." included. A record
// that does not parse is EIO. Call it only when Buffered.
func (r *DirentReader) Parse() (Dirent, error) {
	// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
	rec := r.buf[r.pos:r.end]
	if len(rec) < 20 {
		return Dirent{}, unix.EIO
	}
	reclen := int(binary.NativeEndian.Uint16(rec[16:]))
	if reclen < 20 || reclen > len(rec) {
		return Dirent{}, unix.EIO
	}
	r.last = r.pos
	r.pos += reclen
	name := rec[19:reclen]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	return Dirent{Name: string(name), Ino: binary.NativeEndian.Uint64(rec), Type: rec[18]}, nil
}

// Next returns the next entry, reading more when the buffer is empty; ok
// is false at the end of the directory.
func (r *DirentReader) Next(fd int) (e Dirent, ok bool, err error) {
	if !r.Buffered() {
		if more, err := r.Fill(fd); !more {
			return e, false, err
		}
	}
	e, err = r.Parse()
	return e, err == nil, err
}

// Reset empties the buffer, as after a seek of the directory.
func (r *DirentReader) Reset() { r.pos, r.end = 0, 0 }

// Unread makes the entry Parse returned last the next one again.
func (r *DirentReader) Unread() { r.pos = r.last }
