//go:build linux

package hostfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"donjon.dev/internal/hostsys"
	"donjon.dev/wasi/vfs"
)

// maxSymlinks bounds how many symbolic links in the last path component one
// operation follows, as Linux's MAXSYMLINKS. (os.Root bounds the others.)
const maxSymlinks = 40

// Dir is a host directory and a capability: paths resolve beneath it and
// never leave it.
type Dir struct {
	root *os.Root // resolves paths beneath the directory
	self *os.File // the directory itself, open for reading
	fd   int      // self's descriptor: fstat, fsync, getdents, *at calls

	dirents hostsys.DirentReader
}

var _ vfs.Dir = (*Dir)(nil)

// Open opens the host directory path as a capability.
func Open(path string) (*Dir, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("hostfs: %w", err)
	}
	d, err := newDir(root)
	if err != nil {
		return nil, fmt.Errorf("hostfs: %s: %w", path, err)
	}
	return d, nil
}

func newDir(root *os.Root) (*Dir, error) {
	self, err := root.OpenFile(".", os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		root.Close()
		return nil, rootErr(err)
	}
	// A directory is never in non-blocking mode, so Fd changes nothing.
	return &Dir{root: root, self: self, fd: int(self.Fd())}, nil
}

// Type implements vfs.Node.
func (d *Dir) Type() vfs.FileType { return vfs.TypeDirectory }

// Stat implements vfs.Node.
func (d *Dir) Stat() (vfs.Filestat, error) {
	var st unix.Stat_t
	if err := fstat(d.fd, &st); err != nil {
		return vfs.Filestat{}, err
	}
	return filestat(&st), nil
}

// SetTimes implements vfs.Node.
func (d *Dir) SetTimes(atim, mtim vfs.Time) error {
	ts := hostsys.Timespecs(atim, mtim)
	return hostsys.Futimens(d.fd, &ts)
}

// Sync implements vfs.Node.
func (d *Dir) Sync() error { return hostsys.Retry(func() error { return unix.Fsync(d.fd) }) }

// Datasync implements vfs.Node.
func (d *Dir) Datasync() error { return hostsys.Retry(func() error { return unix.Fdatasync(d.fd) }) }

// Close implements vfs.Node.
func (d *Dir) Close() error {
	return errors.Join(d.self.Close(), d.root.Close())
}

// Open implements vfs.Dir.
func (d *Dir) Open(path string, flags vfs.OpenFlags) (vfs.Node, error) {
	var node vfs.Node
	err := d.in(path, func(t leaf) error {
		n, err := d.openAt(t, flags)
		node = n
		return err
	})
	return node, err
}

func (d *Dir) openAt(t leaf, flags vfs.OpenFlags) (vfs.Node, error) {
	// O_NONBLOCK: opening a FIFO must not wait for the other end; package
	// wasi polls before reading such files anyway. Regular files ignore it.
	oflags := unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	switch {
	case flags&vfs.OpenRead != 0 && flags&vfs.OpenWrite != 0:
		oflags |= unix.O_RDWR
	case flags&vfs.OpenWrite != 0:
		oflags |= unix.O_WRONLY
	}
	create := flags&vfs.OpenCreate != 0
	excl := create && flags&vfs.OpenExclusive != 0
	for _, f := range [...]struct {
		on    bool
		oflag int
	}{
		{create, unix.O_CREAT},
		{excl, unix.O_EXCL},
		{flags&vfs.OpenTruncate != 0, unix.O_TRUNC},
		{flags&vfs.OpenDirectory != 0 || t.slash, unix.O_DIRECTORY},
		{flags&vfs.OpenAppend != 0, unix.O_APPEND},
		{flags&vfs.OpenSync != 0, unix.O_SYNC},
		{flags&vfs.OpenDsync != 0, unix.O_DSYNC},
		{flags&vfs.OpenRsync != 0, unix.O_RSYNC},
	} {
		if f.on {
			oflags |= f.oflag
		}
	}
	if t.slash && create {
		return nil, unix.EISDIR // as Linux: a trailing slash names a directory
	}
	var fd int
	err := hostsys.Retry(func() (err error) {
		fd, err = unix.Openat(t.dirfd, t.name, oflags, 0o666)
		return err
	})
	if err != nil {
		// O_NOFOLLOW fails with ELOOP on a link, or ENOTDIR with
		// O_DIRECTORY. Follow it if asked to, never with O_EXCL.
		if (err == unix.ELOOP || err == unix.ENOTDIR) && !excl && (flags&vfs.OpenFollow != 0 || t.slash) && isSymlink(t.dirfd, t.name) {
			return nil, errFollow
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	typ := fileType(st.Mode)
	if typ != vfs.TypeDirectory {
		return &File{fd: fd, typ: socketType(fd, typ)}, nil
	}
	// A directory becomes a capability of its own, with its own root. The
	// path is resolved again by os.Root: if it was swapped meanwhile for a
	// link, the link is followed inside this Dir, never outside.
	unix.Close(fd)
	root, err := d.root.OpenRoot(t.path)
	if err != nil {
		return nil, rootErr(err)
	}
	return newDir(root)
}

// StatAt implements vfs.Dir.
func (d *Dir) StatAt(path string, follow bool) (vfs.Filestat, error) {
	var fs vfs.Filestat
	err := d.in(path, func(t leaf) error {
		var st unix.Stat_t
		if err := fstatat(t.dirfd, t.name, &st); err != nil {
			return err
		}
		typ := fileType(st.Mode)
		if typ == vfs.TypeSymbolicLink && (follow || t.slash) {
			return errFollow
		}
		if t.slash && typ != vfs.TypeDirectory {
			return unix.ENOTDIR
		}
		fs = filestat(&st)
		return nil
	})
	return fs, err
}

// SetTimesAt implements vfs.Dir.
func (d *Dir) SetTimesAt(path string, follow bool, atim, mtim vfs.Time) error {
	return d.in(path, func(t leaf) error {
		if (follow || t.slash) && isSymlink(t.dirfd, t.name) {
			return errFollow
		}
		if t.slash {
			if err := mustBeDir(t); err != nil {
				return err
			}
		}
		ts := hostsys.Timespecs(atim, mtim)
		return hostsys.Retry(func() error {
			return unix.UtimesNanoAt(t.dirfd, t.name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
		})
	})
}

// Mkdir implements vfs.Dir.
func (d *Dir) Mkdir(path string) error {
	return d.in(path, func(t leaf) error {
		return hostsys.Retry(func() error { return unix.Mkdirat(t.dirfd, t.name, 0o777) })
	})
}

// Rmdir implements vfs.Dir. A link is not followed, even with a trailing
// slash, as on Linux.
func (d *Dir) Rmdir(path string) error {
	return d.in(path, func(t leaf) error {
		return hostsys.Retry(func() error { return unix.Unlinkat(t.dirfd, t.name, unix.AT_REMOVEDIR) })
	})
}

// Unlink implements vfs.Dir.
func (d *Dir) Unlink(path string) error {
	return d.in(path, func(t leaf) error {
		if t.slash {
			// "file/" names a directory that "file" is not.
			var st unix.Stat_t
			if err := fstatat(t.dirfd, t.name, &st); err != nil {
				return err
			}
			if fileType(st.Mode) == vfs.TypeDirectory {
				return unix.EISDIR
			}
			return unix.ENOTDIR
		}
		return hostsys.Retry(func() error { return unix.Unlinkat(t.dirfd, t.name, 0) })
	})
}

// Symlink implements vfs.Dir. An absolute target could never be followed
// inside a capability, so it is refused.
func (d *Dir) Symlink(target, path string) error {
	if target == "" {
		return unix.ENOENT
	}
	if target[0] == '/' {
		return vfs.ErrNotCapable
	}
	return d.in(path, func(t leaf) error {
		if t.slash {
			return trailingSlashCreateErr(t)
		}
		return hostsys.Retry(func() error { return unix.Symlinkat(target, t.dirfd, t.name) })
	})
}

// Readlink implements vfs.Dir.
func (d *Dir) Readlink(path string, buf []byte) (int, error) {
	var n int
	err := d.in(path, func(t leaf) error {
		if t.slash {
			// "link/" names what the link points to, which is no link.
			if isSymlink(t.dirfd, t.name) {
				return errFollow
			}
			if err := mustBeDir(t); err != nil {
				return err
			}
			return unix.EINVAL
		}
		return hostsys.Retry(func() (err error) {
			n, err = unix.Readlinkat(t.dirfd, t.name, buf)
			return err
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Link implements vfs.Dir.
func (d *Dir) Link(oldPath string, newDir vfs.Dir, newPath string, follow bool) error {
	nd, ok := newDir.(*Dir)
	if !ok {
		return unix.EXDEV
	}
	return d.in(oldPath, func(o leaf) error {
		if (follow || o.slash) && isSymlink(o.dirfd, o.name) {
			return errFollow
		}
		if o.slash {
			// Directories cannot be linked; "file/" is not one.
			if err := mustBeDir(o); err != nil {
				return err
			}
			return unix.EPERM
		}
		return nd.in(newPath, func(n leaf) error {
			if n.slash {
				return trailingSlashCreateErr(n)
			}
			return hostsys.Retry(func() error { return unix.Linkat(o.dirfd, o.name, n.dirfd, n.name, 0) })
		})
	})
}

// Rename implements vfs.Dir. Links are renamed, not followed.
func (d *Dir) Rename(oldPath string, newDir vfs.Dir, newPath string) error {
	nd, ok := newDir.(*Dir)
	if !ok {
		return unix.EXDEV
	}
	return d.in(oldPath, func(o leaf) error {
		if o.slash {
			if err := mustBeDir(o); err != nil {
				return err
			}
		}
		return nd.in(newPath, func(n leaf) error {
			if n.slash && !o.slash {
				// Only a directory may be renamed to "name/".
				if err := mustBeDir(o); err != nil {
					return err
				}
			}
			return hostsys.Retry(func() error { return unix.Renameat(o.dirfd, o.name, n.dirfd, n.name) })
		})
	})
}

// ReadDir implements vfs.Dir with getdents64, which gives inode numbers and
// types without a stat per entry.
func (d *Dir) ReadDir(ents []vfs.Dirent) (int, error) {
	n := 0
	for n < len(ents) {
		if !d.dirents.Buffered() {
			more, err := d.dirents.Fill(d.fd)
			if err != nil {
				if n > 0 {
					return n, nil
				}
				return 0, err
			}
			if !more {
				if n > 0 {
					return n, nil
				}
				return 0, io.EOF
			}
		}
		e, err := d.dirents.Parse()
		if err != nil {
			return n, err
		}
		if e.Name == "." || e.Name == ".." {
			continue
		}
		ent := vfs.Dirent{Name: e.Name, Ino: e.Ino, Type: direntType(e.Type)}
		if e.Type == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if fstatat(d.fd, ent.Name, &st) == nil {
				ent.Type = fileType(st.Mode)
			}
		}
		ents[n] = ent
		n++
	}
	return n, nil
}

// Rewind implements vfs.Dir.
func (d *Dir) Rewind() error {
	d.dirents.Reset()
	_, err := unix.Seek(d.fd, 0, io.SeekStart)
	return err
}

func direntType(t uint8) vfs.FileType {
	switch t {
	case unix.DT_REG:
		return vfs.TypeRegularFile
	case unix.DT_DIR:
		return vfs.TypeDirectory
	case unix.DT_LNK:
		return vfs.TypeSymbolicLink
	case unix.DT_CHR:
		return vfs.TypeCharacterDevice
	case unix.DT_BLK:
		return vfs.TypeBlockDevice
	case unix.DT_SOCK:
		return vfs.TypeSocketStream
	}
	return vfs.TypeUnknown
}

// leaf is the last component of a path, ready for an *at system call.
type leaf struct {
	dirfd int    // the directory holding it
	name  string // one component, or "." when the path ends in "." or ".."
	path  string // the path resolved so far, relative to the Dir, without trailing slash
	slash bool   // the path ended with "/"
}

// errFollow is what an operation returns to have in follow the symbolic
// link it found at its leaf.
var errFollow = errors.New("hostfs: follow the symbolic link")

// in resolves all of path but its last component through the root and runs
// op on that component. When op returns errFollow, in reads the link there,
// refuses absolute targets, and runs op again on what it points to.
func (d *Dir) in(path string, op func(leaf) error) error {
	for hops := 0; ; hops++ {
		parent, name, slash, err := split(path)
		if err != nil {
			return err
		}
		t := leaf{dirfd: d.fd, name: name, slash: slash}
		var pf *os.File
		switch {
		case name == "." || name == "..":
			// The path names a directory: open it whole, and work on its
			// "." so that a call never touches anything above it.
			t.path = strings.TrimRight(path, "/")
			t.name = "."
			pf, err = d.openDir(t.path)
		case parent == "" || parent == ".":
			t.path = name
		default:
			t.path = parent + "/" + name
			pf, err = d.openDir(parent)
		}
		if err != nil {
			return err
		}
		if pf != nil {
			t.dirfd = int(pf.Fd()) // O_PATH descriptors are never non-blocking
		}
		err = op(t)
		if err != errFollow {
			closeFile(pf)
			return err
		}
		link, err := readlinkAt(t.dirfd, t.name)
		closeFile(pf)
		switch {
		case err != nil:
			return err
		case hops >= maxSymlinks:
			return unix.ELOOP
		case link == "":
			return unix.ENOENT
		case link[0] == '/':
			return vfs.ErrNotCapable
		}
		if parent != "" {
			link = parent + "/" + link
		}
		if slash {
			link += "/"
		}
		path = link
	}
}

// openDir opens a directory beneath the root for *at calls only.
func (d *Dir) openDir(path string) (*os.File, error) {
	f, err := d.root.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, rootErr(err)
	}
	return f, nil
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// split cuts a relative path into the directory part, the last component and
// whether it ended with slashes.
func split(path string) (parent, name string, slash bool, err error) {
	if path == "" {
		return "", "", false, unix.ENOENT
	}
	if path[0] == '/' {
		return "", "", false, vfs.ErrNotCapable
	}
	end := len(path)
	for path[end-1] == '/' {
		end--
	}
	slash = end < len(path)
	p := path[:end]
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p, slash, nil
	}
	j := i
	for p[j-1] == '/' {
		j--
	}
	return p[:j], p[i+1:], slash, nil
}

// rootErr maps an os.Root error. Besides errnos and use after Close, the
// only failure os.Root reports for the paths we give it (relative, not
// empty, no mode bits) is an unexported error for a path that escapes.
func rootErr(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	if errors.Is(err, os.ErrClosed) {
		return unix.EBADF
	}
	return vfs.ErrNotCapable
}

func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	return hostsys.Retry(func() error { return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW) })
}

func isSymlink(dirfd int, name string) bool {
	var st unix.Stat_t
	return fstatat(dirfd, name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// mustBeDir fails with ENOTDIR unless t names a directory.
func mustBeDir(t leaf) error {
	var st unix.Stat_t
	if err := fstatat(t.dirfd, t.name, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	return nil
}

// trailingSlashCreateErr is the error for creating "name/" as something
// other than a directory, as Linux gives it: EEXIST if name is a directory,
// ENOTDIR if it is anything else, ENOENT if it does not exist.
func trailingSlashCreateErr(t leaf) error {
	var st unix.Stat_t
	if err := fstatat(t.dirfd, t.name, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EEXIST
	}
	return unix.ENOTDIR
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	var n int
	err := hostsys.Retry(func() (err error) {
		n, err = unix.Readlinkat(dirfd, name, buf)
		return err
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
