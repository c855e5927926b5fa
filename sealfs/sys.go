//go:build linux

package sealfs

import (
	"golang.org/x/sys/unix"

	"donjon.dev/internal/hostsys"
	"donjon.dev/wasi/vfs"
)

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	var fd int
	err := hostsys.Retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, mode)
		return err
	})
	return fd, err
}

func fstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := hostsys.Retry(func() error { return unix.Fstat(fd, &st) })
	return st, err
}

func fstatat(dirfd int, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := hostsys.Retry(func() error { return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
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
	return hostsys.Retry(func() error { return unix.Ftruncate(fd, size) })
}

func fsync(fd int) error     { return hostsys.Retry(func() error { return unix.Fsync(fd) }) }
func fdatasync(fd int) error { return hostsys.Retry(func() error { return unix.Fdatasync(fd) }) }

// renameNoReplace moves a new entry into place, failing with EEXIST if the
// name is taken. Without renameat2 support it falls back to link+unlink for
// files; for directories a plain rename is just as safe, since a sealed
// directory is never empty on the host and rename never replaces a
// non-empty one.
func renameNoReplace(olddir int, oldname string, newdir int, newname string, isDir bool) error {
	err := hostsys.Retry(func() error { return unix.Renameat2(olddir, oldname, newdir, newname, unix.RENAME_NOREPLACE) })
	if err != unix.EINVAL && err != unix.ENOSYS {
		return err
	}
	if isDir {
		err = hostsys.Retry(func() error { return unix.Renameat(olddir, oldname, newdir, newname) })
		if err == unix.ENOTEMPTY {
			err = unix.EEXIST
		}
		return err
	}
	if err := hostsys.Retry(func() error { return unix.Linkat(olddir, oldname, newdir, newname, 0) }); err != nil {
		return err
	}
	return hostsys.Retry(func() error { return unix.Unlinkat(olddir, oldname, 0) })
}

func renameat(olddir int, oldname string, newdir int, newname string) error {
	return hostsys.Retry(func() error { return unix.Renameat(olddir, oldname, newdir, newname) })
}

func unlinkat(dirfd int, name string, flags int) error {
	return hostsys.Retry(func() error { return unix.Unlinkat(dirfd, name, flags) })
}

// listDir returns the entries of the host directory at dirfd, "." and ".."
// left out, read through a descriptor of its own so that dirfd's offset is
// untouched.
func listDir(dirfd int) ([]hostsys.Dirent, error) {
	fd, err := openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	r := hostsys.DirentReader{Size: 8 << 10}
	var out []hostsys.Dirent
	for {
		e, ok, err := r.Next(fd)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if e.Name != "." && e.Name != ".." {
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
