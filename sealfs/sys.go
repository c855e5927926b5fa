//go:build linux

package sealfs

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

// retry runs a system call until it is not interrupted.
func retry(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, mode)
		return err
	})
	return fd, err
}

func fstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := retry(func() error { return unix.Fstat(fd, &st) })
	return st, err
}

func fstatat(dirfd int, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := retry(func() error { return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	return st, err
}

// preadFull reads len(b) bytes at off unless the file ends first, and
// returns how many it read.
func preadFull(fd int, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, err
		case m <= 0:
			return n, nil
		}
		n += m
	}
	return n, nil
}

// pwriteFull writes all of b at off.
func pwriteFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		m, err := unix.Pwrite(fd, b, off)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case m <= 0:
			return unix.EIO
		}
		b, off = b[m:], off+int64(m)
	}
	return nil
}

func ftruncate(fd int, size int64) error {
	return retry(func() error { return unix.Ftruncate(fd, size) })
}

func fsync(fd int) error     { return retry(func() error { return unix.Fsync(fd) }) }
func fdatasync(fd int) error { return retry(func() error { return unix.Fdatasync(fd) }) }

// futimens sets the times of the file open at fd (utimensat with a NULL
// path, which x/sys/unix does not expose).
func futimens(fd int, ts *[2]unix.Timespec) error {
	return retry(func() error {
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
		if e != 0 {
			return syscall.Errno(e)
		}
		return nil
	})
}

// renameNoReplace moves a new entry into place, failing with EEXIST if the
// name is taken. Without renameat2 support it falls back to link+unlink for
// files; for directories a plain rename is just as safe, since a sealed
// directory is never empty on the host and rename never replaces a
// non-empty one.
func renameNoReplace(olddir int, oldname string, newdir int, newname string, isDir bool) error {
	err := retry(func() error { return unix.Renameat2(olddir, oldname, newdir, newname, unix.RENAME_NOREPLACE) })
	if err != unix.EINVAL && err != unix.ENOSYS {
		return err
	}
	if isDir {
		err = retry(func() error { return unix.Renameat(olddir, oldname, newdir, newname) })
		if err == unix.ENOTEMPTY {
			err = unix.EEXIST
		}
		return err
	}
	if err := retry(func() error { return unix.Linkat(olddir, oldname, newdir, newname, 0) }); err != nil {
		return err
	}
	return retry(func() error { return unix.Unlinkat(olddir, oldname, 0) })
}

func renameat(olddir int, oldname string, newdir int, newname string) error {
	return retry(func() error { return unix.Renameat(olddir, oldname, newdir, newname) })
}

func unlinkat(dirfd int, name string, flags int) error {
	return retry(func() error { return unix.Unlinkat(dirfd, name, flags) })
}

// hostEntry is one entry of a host directory.
type hostEntry struct {
	name string
	ino  uint64
	typ  uint8 // DT_*
}

// direntReader reads a host directory with getdents64, which gives inode
// numbers and types without a stat per entry.
type direntReader struct {
	buf      []byte
	pos, end int
	last     int // where the entry next returned last starts
}

// next returns the next entry, "." and ".." included; ok is false at the
// end.
func (r *direntReader) next(fd int) (e hostEntry, ok bool, err error) {
	if r.pos >= r.end {
		if r.buf == nil {
			r.buf = make([]byte, 8<<10)
		}
		var n int
		err := retry(func() (err error) {
			n, err = unix.Getdents(fd, r.buf)
			return err
		})
		if err != nil {
			return e, false, err
		}
		if n <= 0 {
			return e, false, nil
		}
		r.pos, r.end = 0, n
	}
	// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
	rec := r.buf[r.pos:r.end]
	if len(rec) < 20 {
		return e, false, unix.EIO
	}
	reclen := int(binary.NativeEndian.Uint16(rec[16:]))
	if reclen < 20 || reclen > len(rec) {
		return e, false, unix.EIO
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
	return hostEntry{name: string(name), ino: binary.NativeEndian.Uint64(rec), typ: rec[18]}, true, nil
}

func (r *direntReader) reset() { r.pos, r.end = 0, 0 }

// unread makes next return the last entry again.
func (r *direntReader) unread() { r.pos = r.last }

// listDir returns the entries of the host directory at dirfd, "." and ".."
// left out, read through a descriptor of its own so that dirfd's offset is
// untouched.
func listDir(dirfd int) ([]hostEntry, error) {
	fd, err := openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var r direntReader
	var out []hostEntry
	for {
		e, ok, err := r.next(fd)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if e.name != "." && e.name != ".." {
			out = append(out, e)
		}
	}
}

// fileType maps a host mode to the types a sealed directory holds.
func fileType(mode uint32) vfs.FileType {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return vfs.TypeRegularFile
	case unix.S_IFDIR:
		return vfs.TypeDirectory
	}
	return vfs.TypeUnknown
}

func timespecs(atim, mtim vfs.Time) [2]unix.Timespec {
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

// nanos converts a timespec to nanoseconds since the epoch; WASI timestamps
// are unsigned, so times before 1970 read as 0.
func nanos(ts unix.Timespec) uint64 {
	n := ts.Nano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}
