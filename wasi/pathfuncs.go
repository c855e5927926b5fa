//go:build linux

package wasi

import (
	"bytes"

	"donjon.dev/wasi/vfs"
)

// dirArg returns the entry of fd if it is a directory holding need.
func (s *System) dirArg(fd uint32, need rights) (*entry, errno) {
	e, errno := s.lookup(fd)
	switch {
	case errno != errnoSuccess:
		return nil, errno
	case e.dir == nil:
		return nil, errnoNotdir
	case e.base&need != need:
		return nil, errnoNotcapable
	}
	return e, errnoSuccess
}

// dirPathArg reads the two arguments most path calls start with: a
// directory descriptor holding need, and a path beneath it.
func (s *System) dirPathArg(m guestMem, fd uint32, need rights, ptr, n uint32) (*entry, string, errno) {
	e, errno := s.dirArg(fd, need)
	if errno != errnoSuccess {
		return nil, "", errno
	}
	path, errno := pathArg(m, ptr, n)
	return e, path, errno
}

// pathArg reads a path from the guest. Paths are relative to a directory
// descriptor: an absolute one would leave it.
func pathArg(m guestMem, ptr, n uint32) (string, errno) {
	b, errno := stringArg(m, ptr, n)
	if errno != errnoSuccess {
		return "", errno
	}
	if b[0] == '/' {
		return "", errnoNotcapable
	}
	return string(b), errnoSuccess
}

// stringArg reads a path or link target: not empty, no NUL, at most PATH_MAX
// bytes. Bytes are not otherwise checked: Linux file names need not be
// UTF-8.
func stringArg(m guestMem, ptr, n uint32) ([]byte, errno) {
	if n > maxPathLen {
		return nil, errnoNametoolong
	}
	b, ok := m.view(ptr, n)
	switch {
	case !ok:
		return nil, errnoFault
	case n == 0:
		return nil, errnoNoent
	case bytes.IndexByte(b, 0) >= 0:
		return nil, errnoInval
	}
	return b, errnoSuccess
}

func lookupArg(flags uint32) (follow bool, errno errno) {
	if flags&^lookupSymlinkFollow != 0 {
		return false, errnoInval
	}
	return flags&lookupSymlinkFollow != 0, errnoSuccess
}

func (s *System) pathCreateDirectory(m guestMem, fd, ptr, n uint32) errno {
	e, path, errno := s.dirPathArg(m, fd, rightPathCreateDirectory, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(e.dir.Mkdir(path))
}

func (s *System) pathFilestatGet(m guestMem, fd, flags, ptr, n, buf uint32) errno {
	e, errno := s.dirArg(fd, rightPathFilestatGet)
	if errno != errnoSuccess {
		return errno
	}
	follow, errno := lookupArg(flags)
	if errno != errnoSuccess {
		return errno
	}
	out, ok := m.view(buf, filestatSize)
	if !ok {
		return errnoFault
	}
	path, errno := pathArg(m, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	st, err := e.dir.StatAt(path, follow)
	if err != nil {
		return errnoOf(err)
	}
	putFilestat(out, &st)
	return errnoSuccess
}

func (s *System) pathFilestatSetTimes(m guestMem, fd, flags, ptr, n uint32, atim, mtim uint64, fst uint32) errno {
	e, errno := s.dirArg(fd, rightPathFilestatSetTimes)
	if errno != errnoSuccess {
		return errno
	}
	follow, errno := lookupArg(flags)
	if errno != errnoSuccess {
		return errno
	}
	a, mt, errno := timesArg(atim, mtim, fst)
	if errno != errnoSuccess {
		return errno
	}
	path, errno := pathArg(m, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(e.dir.SetTimesAt(path, follow, a, mt))
}

func (s *System) pathLink(m guestMem, oldFd, oldFlags, oldPtr, oldLen, newFd, newPtr, newLen uint32) errno {
	oe, errno := s.dirArg(oldFd, rightPathLinkSource)
	if errno != errnoSuccess {
		return errno
	}
	ne, errno := s.dirArg(newFd, rightPathLinkTarget)
	if errno != errnoSuccess {
		return errno
	}
	follow, errno := lookupArg(oldFlags)
	if errno != errnoSuccess {
		return errno
	}
	oldPath, errno := pathArg(m, oldPtr, oldLen)
	if errno != errnoSuccess {
		return errno
	}
	newPath, errno := pathArg(m, newPtr, newLen)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(oe.dir.Link(oldPath, ne.dir, newPath, follow))
}

func (s *System) pathOpen(m guestMem, fd, dirflags, ptr, n, oflags uint32, base, inherit rights, fdflags, fdPtr uint32) errno {
	need := rightPathOpen
	if oflags&uint32(oflagCreat) != 0 {
		need |= rightPathCreateFile
	}
	if oflags&uint32(oflagTrunc) != 0 {
		need |= rightPathFilestatSetSize
	}
	e, errno := s.dirArg(fd, need)
	if errno != errnoSuccess {
		return errno
	}
	follow, errno := lookupArg(dirflags)
	switch {
	case errno != errnoSuccess,
		oflags&^uint32(oflagsAll) != 0,
		fdflags&^uint32(fdflagsAll) != 0,
		oflags&uint32(oflagDirectory) != 0 && oflags&uint32(oflagCreat|oflagTrunc) != 0:
		return errnoInval
	}
	out, ok := m.view(fdPtr, 4)
	if !ok {
		return errnoFault
	}
	path, errno := pathArg(m, ptr, n)
	if errno != errnoSuccess {
		return errno
	}

	// A descriptor gets at most what its directory passes on. The access
	// mode follows from the rights asked for: asking to write to a
	// directory is refused with EISDIR by the open itself.
	base &= e.inherit
	inherit &= e.inherit
	var flags vfs.OpenFlags
	if base&rightsRead != 0 {
		flags |= vfs.OpenRead
	}
	if base&rightsWrite != 0 {
		flags |= vfs.OpenWrite
	}
	for _, f := range [...]struct {
		on   bool
		flag vfs.OpenFlags
	}{
		{follow, vfs.OpenFollow},
		{oflags&uint32(oflagCreat) != 0, vfs.OpenCreate},
		{oflags&uint32(oflagExcl) != 0, vfs.OpenExclusive},
		{oflags&uint32(oflagTrunc) != 0, vfs.OpenTruncate},
		{oflags&uint32(oflagDirectory) != 0, vfs.OpenDirectory},
		{fdflags&uint32(fdflagAppend) != 0, vfs.OpenAppend},
		{fdflags&uint32(fdflagSync) != 0, vfs.OpenSync},
		{fdflags&uint32(fdflagDsync) != 0, vfs.OpenDsync},
		{fdflags&uint32(fdflagRsync) != 0, vfs.OpenRsync},
	} {
		if f.on {
			flags |= f.flag
		}
	}
	node, err := e.dir.Open(path, flags)
	if err != nil {
		return errnoOf(err)
	}
	switch node.(type) {
	case vfs.Dir, vfs.File:
	case nil: // a broken vfs.Dir: refuse rather than panic
		return errnoIo
	default:
		node.Close()
		return errnoIo
	}
	newFd, errno := s.install(newEntry(node, base, inherit, uint16(fdflags)))
	if errno != errnoSuccess {
		node.Close()
		return errno
	}
	le.PutUint32(out, newFd)
	return errnoSuccess
}

func (s *System) pathReadlink(m guestMem, fd, ptr, n, buf, bufLen, usedPtr uint32) errno {
	e, errno := s.dirArg(fd, rightPathReadlink)
	if errno != errnoSuccess {
		return errno
	}
	out, ok := m.view(buf, bufLen)
	if !ok {
		return errnoFault
	}
	used, ok := m.view(usedPtr, 4)
	if !ok {
		return errnoFault
	}
	path, errno := pathArg(m, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	k, err := e.dir.Readlink(path, out)
	if err != nil {
		return errnoOf(err)
	}
	le.PutUint32(used, uint32(k))
	return errnoSuccess
}

func (s *System) pathRemoveDirectory(m guestMem, fd, ptr, n uint32) errno {
	e, path, errno := s.dirPathArg(m, fd, rightPathRemoveDirectory, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(e.dir.Rmdir(path))
}

func (s *System) pathRename(m guestMem, oldFd, oldPtr, oldLen, newFd, newPtr, newLen uint32) errno {
	oe, errno := s.dirArg(oldFd, rightPathRenameSource)
	if errno != errnoSuccess {
		return errno
	}
	ne, oldPath, errno := s.dirPathArg(m, newFd, rightPathRenameTarget, oldPtr, oldLen)
	if errno != errnoSuccess {
		return errno
	}
	newPath, errno := pathArg(m, newPtr, newLen)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(oe.dir.Rename(oldPath, ne.dir, newPath))
}

func (s *System) pathSymlink(m guestMem, targetPtr, targetLen, fd, ptr, n uint32) errno {
	e, errno := s.dirArg(fd, rightPathSymlink)
	if errno != errnoSuccess {
		return errno
	}
	target, errno := stringArg(m, targetPtr, targetLen)
	if errno != errnoSuccess {
		return errno
	}
	if target[0] == '/' {
		// It could never be followed inside a capability.
		return errnoNotcapable
	}
	path, errno := pathArg(m, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(e.dir.Symlink(string(target), path))
}

func (s *System) pathUnlinkFile(m guestMem, fd, ptr, n uint32) errno {
	e, path, errno := s.dirPathArg(m, fd, rightPathUnlinkFile, ptr, n)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(e.dir.Unlink(path))
}
