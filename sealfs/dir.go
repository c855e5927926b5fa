//go:build linux

package sealfs

import (
	"crypto/rand"
	"io"
	"strings"

	"golang.org/x/sys/unix"

	"donjon.dev/internal/hostsys"
	"donjon.dev/wasi/vfs"
)

// Dir is a directory of a sealed tree and a capability: paths resolve
// beneath it and never leave it.
type Dir struct {
	v      *volume
	fd     int          // the host directory, open for reading
	id     [idSize]byte // the directory's random identity: names in it are bound to it
	path   string       // host path from the volume root, kept current across renames
	closed bool
	rd     hostsys.DirentReader
}

var _ vfs.Dir = (*Dir)(nil)

// newDir wraps fd, which it then owns.
func (v *volume) newDir(fd int, id [idSize]byte, path string) *Dir {
	d := &Dir{v: v, fd: fd, id: id, path: path, rd: hostsys.DirentReader{Size: 8 << 10}}
	v.dirs[d] = struct{}{}
	v.refs++
	return d
}

// Type implements vfs.Node.
func (d *Dir) Type() vfs.FileType { return vfs.TypeDirectory }

// Stat implements vfs.Node. A directory's times are the host's.
func (d *Dir) Stat() (vfs.Filestat, error) {
	d.v.mu.Lock()
	defer d.v.mu.Unlock()
	if d.closed {
		return vfs.Filestat{}, unix.EBADF
	}
	st, err := fstat(d.fd)
	if err != nil {
		return vfs.Filestat{}, err
	}
	return dirStat(&st), nil
}

func dirStat(st *unix.Stat_t) vfs.Filestat {
	return vfs.Filestat{
		Dev: st.Dev, Ino: st.Ino, Type: vfs.TypeDirectory, Nlink: uint64(st.Nlink),
		Size: uint64(max(st.Size, 0)), Atim: hostsys.Nanos(st.Atim), Mtim: hostsys.Nanos(st.Mtim), Ctim: hostsys.Nanos(st.Ctim),
	}
}

// SetTimes implements vfs.Node.
func (d *Dir) SetTimes(atim, mtim vfs.Time) error {
	d.v.mu.Lock()
	defer d.v.mu.Unlock()
	if d.closed {
		return unix.EBADF
	}
	ts := hostsys.Timespecs(atim, mtim)
	return hostsys.Futimens(d.fd, &ts)
}

// Sync implements vfs.Node: entries created, removed or renamed in the
// directory are durable when it returns.
func (d *Dir) Sync() error { return d.sync(fsync) }

// Datasync implements vfs.Node.
func (d *Dir) Datasync() error { return d.sync(fdatasync) }

func (d *Dir) sync(call func(int) error) error {
	d.v.mu.Lock()
	defer d.v.mu.Unlock()
	if d.closed {
		return unix.EBADF
	}
	return call(d.fd)
}

// Close implements vfs.Node.
func (d *Dir) Close() error {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.closed {
		return unix.EBADF
	}
	d.closed = true
	delete(v.dirs, d)
	err := unix.Close(d.fd)
	if e := v.unref(); err == nil {
		err = e
	}
	return err
}

// frame is one directory on the way down a path.
type frame struct {
	fd   int
	id   [idSize]byte
	path string // host path from the volume root
	own  bool   // fd is closed with the frame
}

// target is a resolved path: the directory holding its last component,
// open, and that component.
type target struct {
	stack []frame
	name  string // the last component; "." when the path names the directory itself
	host  string // its host name; "" for "."
	slash bool   // the path ended with "/"
}

func (t *target) dir() *frame { return &t.stack[len(t.stack)-1] }

func (t *target) pop() {
	if f := t.stack[len(t.stack)-1]; f.own {
		unix.Close(f.fd)
	}
	t.stack = t.stack[:len(t.stack)-1]
}

func (t *target) close() {
	for len(t.stack) > 0 {
		t.pop()
	}
}

// resolve walks all of path but its last component, opening and verifying
// each directory. ".." never goes above d: a path that would leave it
// fails with ErrNotCapable. Walking is confined by construction: each step
// opens one encrypted name (base64url: no "/", never "." or "..") with
// O_NOFOLLOW under the directory before it. Called with v.mu held.
func (d *Dir) resolve(path string) (*target, error) {
	switch {
	case d.closed:
		return nil, unix.EBADF
	case path == "":
		return nil, unix.ENOENT
	case path[0] == '/':
		return nil, vfs.ErrNotCapable
	}
	end := len(path)
	for path[end-1] == '/' {
		end--
	}
	t := &target{slash: end < len(path)}
	t.stack = append(t.stack, frame{fd: d.fd, id: d.id, path: d.path})
	comps := strings.Split(path[:end], "/")
	for _, c := range comps[:len(comps)-1] {
		switch c {
		case "", ".":
		case "..":
			if len(t.stack) == 1 {
				t.close()
				return nil, vfs.ErrNotCapable
			}
			t.pop()
		default:
			if err := validName(c); err != nil {
				t.close()
				return nil, err
			}
			fr, err := d.v.openDirAt(t.dir(), c)
			if err != nil {
				t.close()
				return nil, err
			}
			t.stack = append(t.stack, fr)
		}
	}
	switch last := comps[len(comps)-1]; last {
	case ".":
		t.name = "."
	case "..":
		if len(t.stack) == 1 {
			t.close()
			return nil, vfs.ErrNotCapable
		}
		t.pop()
		t.name = "."
	default:
		if err := validName(last); err != nil {
			t.close()
			return nil, err
		}
		t.name, t.host = last, d.v.names.seal(&t.dir().id, last)
	}
	return t, nil
}

// openDirAt opens the directory name in p and verifies that it is bound
// there.
func (v *volume) openDirAt(p *frame, name string) (frame, error) {
	host := v.names.seal(&p.id, name)
	fd, err := openat(p.fd, host, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return frame{}, v.lookupErr(p, host, err)
	}
	id, err := v.dirIdentity(fd, p, name, host)
	if err != nil {
		unix.Close(fd)
		return frame{}, err
	}
	return frame{fd: fd, id: id, path: joinPath(p.path, host), own: true}, nil
}

// lookupErr explains why a directory could not be opened: a file is
// ENOTDIR; a link or device, which this package never creates, is EIO.
func (v *volume) lookupErr(p *frame, host string, err error) error {
	if err != unix.ENOTDIR && err != unix.ELOOP {
		return err
	}
	st, serr := fstatat(p.fd, host)
	if serr != nil {
		return serr
	}
	if fileType(st.Mode) == vfs.TypeRegularFile {
		return unix.ENOTDIR
	}
	return v.corrupt(joinPath(p.path, host), "neither a file nor a directory")
}

// dirIdentity returns the identity of the directory open at fd, checked
// against its place (p, name) once and then cached.
func (v *volume) dirIdentity(fd int, p *frame, name, host string) ([idSize]byte, error) {
	st, err := fstat(fd)
	if err != nil {
		return [idSize]byte{}, err
	}
	key := dirKey{parent: p.id, name: name, ino: st.Ino}
	if id, ok := v.dirIDs[key]; ok {
		return id, nil
	}
	h, _, _, mfd, err := v.readDirMeta(fd, binding{&p.id, name}, joinPath(p.path, host), false)
	if err != nil {
		return [idSize]byte{}, err
	}
	unix.Close(mfd)
	if len(v.dirIDs) >= maxDirIDs {
		clear(v.dirIDs)
	}
	v.dirIDs[key] = h.id
	return h.id, nil
}

// readDirMeta reads and checks the header of the directory open at fd. The
// returned descriptor of its ".sealdir" is writable if rw.
func (v *volume) readDirMeta(fd int, b binding, hostPath string, rw bool) (h header, slot, stale, mfd int, err error) {
	flags := unix.O_RDONLY
	if rw {
		flags = unix.O_RDWR
	}
	mfd, err = openat(fd, dirMetaFile, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		if err == unix.ENOENT || err == unix.ELOOP || err == unix.EISDIR {
			return h, 0, -1, -1, v.corrupt(hostPath, "its header "+dirMetaFile+" is missing")
		}
		return h, 0, -1, -1, err
	}
	region := make([]byte, hdrSize+1)
	n, err := preadFull(mfd, region, 0)
	if err == nil && n == hdrSize {
		h, slot, stale, err = parseHeader(v.hdrMAC, region[:hdrSize], dirMagic, b)
		if err == nil {
			return h, slot, stale, mfd, nil
		}
	}
	unix.Close(mfd)
	if err == nil || err == errCorrupt {
		err = v.corrupt(hostPath, "directory header")
	}
	return h, 0, -1, -1, err
}

// entryType is the type of host entry host in p: a regular file or a
// directory; anything else is not ours.
func (v *volume) entryType(p *frame, host string) (vfs.FileType, unix.Stat_t, error) {
	st, err := fstatat(p.fd, host)
	if err != nil {
		return 0, st, err
	}
	typ := fileType(st.Mode)
	if typ == vfs.TypeUnknown {
		return 0, st, v.corrupt(joinPath(p.path, host), "neither a file nor a directory")
	}
	return typ, st, nil
}

// Open implements vfs.Dir.
func (d *Dir) Open(path string, flags vfs.OpenFlags) (vfs.Node, error) {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return nil, err
	}
	defer t.close()
	create := flags&vfs.OpenCreate != 0
	excl := create && flags&vfs.OpenExclusive != 0
	write := flags&vfs.OpenWrite != 0
	trunc := flags&vfs.OpenTruncate != 0
	wantDir := flags&vfs.OpenDirectory != 0 || t.slash
	if t.slash && create {
		return nil, unix.EISDIR // as Linux: a trailing slash names a directory
	}
	// What opening an existing directory with these flags fails with.
	dirErr := func() error {
		switch {
		case excl:
			return unix.EEXIST
		case create || write || trunc:
			return unix.EISDIR
		}
		return nil
	}
	if t.name == "." {
		if err := dirErr(); err != nil {
			return nil, err
		}
		fr := t.dir()
		fd, err := openat(fr.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return nil, err
		}
		return v.newDir(fd, fr.id, fr.path), nil
	}
	typ, _, err := v.entryType(t.dir(), t.host)
	switch {
	case err == unix.ENOENT && create:
		if wantDir {
			return nil, unix.EINVAL // O_CREAT|O_DIRECTORY, as Linux
		}
		of, err := v.createFile(t.dir(), t.name, t.host)
		if err != nil {
			return nil, err
		}
		return v.newFile(of, flags), nil
	case err != nil:
		return nil, err
	case typ == vfs.TypeDirectory:
		if err := dirErr(); err != nil {
			return nil, err
		}
		fr, err := v.openDirAt(t.dir(), t.name)
		if err != nil {
			return nil, err
		}
		return v.newDir(fr.fd, fr.id, fr.path), nil
	}
	switch {
	case excl:
		return nil, unix.EEXIST
	case wantDir:
		return nil, unix.ENOTDIR
	}
	of, err := v.acquire(t.dir(), t.name, t.host)
	if err != nil {
		return nil, err
	}
	if (write || trunc) && !of.rw {
		v.release(of)
		return nil, of.roErr
	}
	if trunc && of.hdr.size > 0 {
		if err := of.truncate(0, flags&(vfs.OpenSync|vfs.OpenDsync) != 0); err != nil {
			v.release(of)
			return nil, err
		}
	}
	return v.newFile(of, flags), nil
}

// StatAt implements vfs.Dir. There are no symbolic links to follow.
func (d *Dir) StatAt(path string, follow bool) (vfs.Filestat, error) {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return vfs.Filestat{}, err
	}
	defer t.close()
	if t.name == "." {
		st, err := fstat(t.dir().fd)
		if err != nil {
			return vfs.Filestat{}, err
		}
		return dirStat(&st), nil
	}
	typ, st, err := v.entryType(t.dir(), t.host)
	if err != nil {
		return vfs.Filestat{}, err
	}
	if typ == vfs.TypeDirectory {
		fr, err := v.openDirAt(t.dir(), t.name) // verifies it belongs here
		if err != nil {
			return vfs.Filestat{}, err
		}
		unix.Close(fr.fd)
		return dirStat(&st), nil
	}
	if t.slash {
		return vfs.Filestat{}, unix.ENOTDIR
	}
	of, err := v.acquire(t.dir(), t.name, t.host)
	if err != nil {
		return vfs.Filestat{}, err
	}
	defer v.release(of)
	return of.stat()
}

// SetTimesAt implements vfs.Dir.
func (d *Dir) SetTimesAt(path string, follow bool, atim, mtim vfs.Time) error {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return err
	}
	defer t.close()
	ts := hostsys.Timespecs(atim, mtim)
	if t.name == "." {
		return hostsys.Futimens(t.dir().fd, &ts)
	}
	typ, _, err := v.entryType(t.dir(), t.host)
	if err != nil {
		return err
	}
	if typ == vfs.TypeDirectory {
		fr, err := v.openDirAt(t.dir(), t.name)
		if err != nil {
			return err
		}
		defer unix.Close(fr.fd)
		return hostsys.Futimens(fr.fd, &ts)
	}
	if t.slash {
		return unix.ENOTDIR
	}
	of, err := v.acquire(t.dir(), t.name, t.host)
	if err != nil {
		return err
	}
	defer v.release(of)
	if !of.rw {
		return of.roErr
	}
	return of.setTimes(atim, mtim)
}

// Mkdir implements vfs.Dir. The directory is prepared aside, with its
// header, and renamed into place: it appears whole or not at all.
func (d *Dir) Mkdir(path string) error {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return err
	}
	defer t.close()
	if t.name == "." {
		return unix.EEXIST
	}
	p := t.dir()
	if _, err := fstatat(p.fd, t.host); err == nil {
		return unix.EEXIST
	} else if err != unix.ENOENT {
		return err
	}
	tmp := tmpName()
	if err := unix.Mkdirat(v.tmpFd, tmp, 0o700); err != nil {
		return err
	}
	h := header{gen: 1}
	rand.Read(h.id[:])
	err = v.writeDirMeta(tmp, &h, binding{&p.id, t.name})
	if err == nil {
		err = renameNoReplace(v.tmpFd, tmp, p.fd, t.host, true)
	}
	if err != nil {
		removeAll(v.tmpFd, tmp, 1)
		return err
	}
	return nil
}

// writeDirMeta writes the header of a new directory, durably: a directory
// whose header were lost would make everything beneath it unreadable.
func (v *volume) writeDirMeta(tmp string, h *header, b binding) error {
	dfd, err := openat(v.tmpFd, tmp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	mfd, err := openat(dfd, dirMetaFile, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	region := make([]byte, hdrSize)
	encodeSlot(v.hdrMAC, region, dirMagic, h, b)
	if err := pwriteFull(mfd, region, 0); err != nil {
		return err
	}
	return fdatasync(mfd)
}

// Rmdir implements vfs.Dir. The directory is first renamed aside, so that
// it disappears at once, then removed.
func (d *Dir) Rmdir(path string) error {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return err
	}
	defer t.close()
	if t.name == "." {
		return unix.EINVAL
	}
	p := t.dir()
	typ, st, err := v.entryType(p, t.host)
	if err != nil {
		return err
	}
	if typ != vfs.TypeDirectory {
		return unix.ENOTDIR
	}
	if err := v.checkEmptyDir(p, t.name); err != nil {
		return err
	}
	tmp := tmpName()
	if err := renameat(p.fd, t.host, v.tmpFd, tmp); err != nil {
		return err
	}
	delete(v.dirIDs, dirKey{parent: p.id, name: t.name, ino: st.Ino})
	v.dropTmp(tmp)
	return nil
}

// dropTmp removes an entry renamed aside. It is gone for the guest
// already; what cannot be removed now is removed at the next Open.
func (v *volume) dropTmp(name string) {
	if err := removeAll(v.tmpFd, name, 1); err != nil {
		v.log.Warn("sealfs: cannot remove a deleted directory; it will be at the next open", "dir", v.where, "err", err)
	}
}

// checkEmptyDir fails unless name in p is an authentic, empty directory.
func (v *volume) checkEmptyDir(p *frame, name string) error {
	fr, err := v.openDirAt(p, name)
	if err != nil {
		return err
	}
	defer unix.Close(fr.fd)
	ents, err := listDir(fr.fd)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name != dirMetaFile {
			return unix.ENOTEMPTY
		}
	}
	return nil
}

// Unlink implements vfs.Dir.
func (d *Dir) Unlink(path string) error {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return err
	}
	defer t.close()
	if t.name == "." {
		return unix.EISDIR
	}
	typ, st, err := v.entryType(t.dir(), t.host)
	if err != nil {
		return err
	}
	switch {
	case typ == vfs.TypeDirectory:
		return unix.EISDIR
	case t.slash:
		return unix.ENOTDIR // "file/" names a directory that "file" is not
	}
	if err := unlinkat(t.dir().fd, t.host, 0); err != nil {
		return err
	}
	if of := v.files[fileKey{st.Dev, st.Ino}]; of != nil {
		of.unlinked = true
	}
	return nil
}

// createErr is the error for creating path as something that is refused
// (a link), as Linux orders it: a name that exists is EEXIST, "name/" is
// ENOTDIR on a file and ENOENT when missing; otherwise refused.
func (v *volume) createErr(t *target, refused error) error {
	if t.name == "." {
		return unix.EEXIST
	}
	typ, _, err := v.entryType(t.dir(), t.host)
	switch {
	case err == unix.ENOENT:
		if t.slash {
			return unix.ENOENT
		}
		return refused
	case err != nil:
		return err
	case t.slash && typ != vfs.TypeDirectory:
		return unix.ENOTDIR
	}
	return unix.EEXIST
}

// Symlink implements vfs.Dir: sealed directories hold no symbolic links
// (a link's target would be a second, unauthenticated path language), so
// creating one fails with EPERM, as on file systems without them.
func (d *Dir) Symlink(target, path string) error {
	if target == "" {
		return unix.ENOENT
	}
	if target[0] == '/' {
		return vfs.ErrNotCapable
	}
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return err
	}
	defer t.close()
	return v.createErr(t, unix.EPERM)
}

// Readlink implements vfs.Dir: nothing is a link.
func (d *Dir) Readlink(path string, buf []byte) (int, error) {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	t, err := d.resolve(path)
	if err != nil {
		return 0, err
	}
	defer t.close()
	if t.name == "." {
		return 0, unix.EINVAL
	}
	typ, _, err := v.entryType(t.dir(), t.host)
	switch {
	case err != nil:
		return 0, err
	case t.slash && typ != vfs.TypeDirectory:
		return 0, unix.ENOTDIR
	}
	return 0, unix.EINVAL
}

// Link implements vfs.Dir: hard links are refused with EPERM (a file's
// header binds it to one name).
func (d *Dir) Link(oldPath string, newDir vfs.Dir, newPath string, follow bool) error {
	nd, ok := newDir.(*Dir)
	if !ok || nd.v != d.v {
		return unix.EXDEV
	}
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := d.resolve(oldPath)
	if err != nil {
		return err
	}
	defer o.close()
	if o.name == "." {
		return unix.EPERM // directories cannot be linked
	}
	typ, _, err := v.entryType(o.dir(), o.host)
	switch {
	case err != nil:
		return err
	case o.slash && typ != vfs.TypeDirectory:
		return unix.ENOTDIR
	case typ == vfs.TypeDirectory:
		return unix.EPERM
	}
	n, err := nd.resolve(newPath)
	if err != nil {
		return err
	}
	defer n.close()
	return v.createErr(n, unix.EPERM)
}

// Rename implements vfs.Dir, with rename(2)'s rules: a file replaces a
// file, a directory replaces an empty directory, and the rename is atomic
// against a crash (except the removal of a replaced empty directory, which
// happens first).
func (d *Dir) Rename(oldPath string, newDir vfs.Dir, newPath string) error {
	nd, ok := newDir.(*Dir)
	if !ok || nd.v != d.v {
		return unix.EXDEV
	}
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := d.resolve(oldPath)
	if err != nil {
		return err
	}
	defer o.close()
	n, err := nd.resolve(newPath)
	if err != nil {
		return err
	}
	defer n.close()
	if o.name == "." || n.name == "." {
		return unix.EBUSY
	}
	otyp, ost, err := v.entryType(o.dir(), o.host)
	if err != nil {
		return err
	}
	isDir := otyp == vfs.TypeDirectory
	if !isDir && (o.slash || n.slash) {
		return unix.ENOTDIR // only a directory may be named "name/"
	}
	ntyp, nst, err := v.entryType(n.dir(), n.host)
	exists := err == nil
	if err != nil && err != unix.ENOENT {
		return err
	}
	if exists && nst.Dev == ost.Dev && nst.Ino == ost.Ino {
		return nil // the same entry: nothing to do, as rename(2)
	}
	if !isDir {
		if exists && ntyp == vfs.TypeDirectory {
			return unix.EISDIR
		}
		return v.renameFile(o, n, exists, &nst)
	}
	if exists && ntyp != vfs.TypeDirectory {
		return unix.ENOTDIR
	}
	return v.renameDir(o, n, exists, &ost)
}

func (v *volume) renameFile(o, n *target, replace bool, nst *unix.Stat_t) error {
	of, err := v.acquire(o.dir(), o.name, o.host)
	if err != nil {
		return err
	}
	defer v.release(of)
	if !of.rw {
		return of.roErr
	}
	np := n.dir()
	err = of.rebind(np, n.name, n.host, func() error { return renameat(o.dir().fd, o.host, np.fd, n.host) })
	if err != nil {
		return err
	}
	if replace {
		if old := v.files[fileKey{nst.Dev, nst.Ino}]; old != nil {
			old.unlinked = true
		}
	}
	return nil
}

func (v *volume) renameDir(o, n *target, replace bool, ost *unix.Stat_t) error {
	op, np := o.dir(), n.dir()
	if inside, err := v.within(np.fd, ost); err != nil {
		return err
	} else if inside {
		return unix.EINVAL // into itself
	}
	src, err := v.openDirAt(op, o.name)
	if err != nil {
		return err
	}
	defer unix.Close(src.fd)
	oldPath := joinPath(op.path, o.host)
	h, slot, _, mfd, err := v.readDirMeta(src.fd, binding{&op.id, o.name}, oldPath, true)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	trash := ""
	if replace {
		if err := v.checkEmptyDir(np, n.name); err != nil {
			return err
		}
		// rename(2) cannot replace a host directory that holds our header:
		// remove the target first (not atomic with the rest; see the docs).
		trash = tmpName()
		if err := renameat(np.fd, n.host, v.tmpFd, trash); err != nil {
			return err
		}
	}
	nh := h
	nh.gen++
	other := 1 - slot
	s := make([]byte, slotSize)
	encodeSlot(v.hdrMAC, s, dirMagic, &nh, binding{&np.id, n.name})
	err = pwriteFull(mfd, s, int64(other)*slotSize)
	if err == nil {
		err = fdatasync(mfd)
	}
	if err == nil {
		err = renameat(op.fd, o.host, np.fd, n.host)
	}
	if err != nil {
		pwriteFull(mfd, make([]byte, slotSize), int64(other)*slotSize)
		if trash != "" {
			renameat(v.tmpFd, trash, np.fd, n.host)
		}
		return err
	}
	pwriteFull(mfd, make([]byte, slotSize), int64(slot)*slotSize)
	if trash != "" {
		v.dropTmp(trash)
	}
	delete(v.dirIDs, dirKey{parent: op.id, name: o.name, ino: ost.Ino})
	v.dirIDs[dirKey{parent: np.id, name: n.name, ino: ost.Ino}] = nh.id
	v.moved(oldPath, joinPath(np.path, n.host))
	return nil
}

// moved updates the host paths of open directories and files after a
// directory moved from oldPath to newPath.
func (v *volume) moved(oldPath, newPath string) {
	re := func(p string) (string, bool) {
		if p == oldPath {
			return newPath, true
		}
		if strings.HasPrefix(p, oldPath) && p[len(oldPath)] == '/' {
			return newPath + p[len(oldPath):], true
		}
		return p, false
	}
	for d := range v.dirs {
		d.path, _ = re(d.path)
	}
	for _, f := range v.files {
		f.dirPath, _ = re(f.dirPath)
	}
}

// within reports whether the host directory at fd is the directory st or
// beneath it.
func (v *volume) within(fd int, st *unix.Stat_t) (bool, error) {
	root, err := fstat(v.rootFd)
	if err != nil {
		return false, err
	}
	cur, own := fd, false
	defer func() {
		if own {
			unix.Close(cur)
		}
	}()
	for range 4096 {
		cs, err := fstat(cur)
		if err != nil {
			return false, err
		}
		if cs.Dev == st.Dev && cs.Ino == st.Ino {
			return true, nil
		}
		if cs.Dev == root.Dev && cs.Ino == root.Ino {
			return false, nil
		}
		next, err := openat(cur, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return false, err
		}
		if own {
			unix.Close(cur)
		}
		cur, own = next, true
	}
	return false, unix.ELOOP
}

// ReadDir implements vfs.Dir. Entries come in the host's order, which is
// stable while the directory is unchanged. A name that does not
// authenticate (moved in from another directory, or altered) is EIO, and
// stays so: the stream does not move past it.
func (d *Dir) ReadDir(ents []vfs.Dirent) (int, error) {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.closed {
		return 0, unix.EBADF
	}
	n := 0
	for n < len(ents) {
		e, ok, err := d.rd.Next(d.fd)
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if !ok {
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		if strings.Contains(e.Name, ".") {
			continue // ".", "..", and the volume's own files
		}
		name, ok := v.names.open(&d.id, e.Name)
		typ := vfs.TypeUnknown
		switch e.Type {
		case unix.DT_REG:
			typ = vfs.TypeRegularFile
		case unix.DT_DIR:
			typ = vfs.TypeDirectory
		case unix.DT_UNKNOWN:
			if st, err := fstatat(d.fd, e.Name); err == nil {
				typ = fileType(st.Mode)
			}
		}
		if !ok || typ == vfs.TypeUnknown {
			d.rd.Unread()
			if n > 0 {
				return n, nil // the next call reports it
			}
			return 0, v.corrupt(joinPath(d.path, e.Name), "directory entry")
		}
		ents[n] = vfs.Dirent{Name: name, Ino: e.Ino, Type: typ}
		n++
	}
	return n, nil
}

// Rewind implements vfs.Dir.
func (d *Dir) Rewind() error {
	d.v.mu.Lock()
	defer d.v.mu.Unlock()
	if d.closed {
		return unix.EBADF
	}
	d.rd.Reset()
	_, err := unix.Seek(d.fd, 0, io.SeekStart)
	return err
}
