//go:build linux

package wasi

import (
	"context"
	"io"
	"math"
	"syscall"

	"donjon.dev/wasi/vfs"
)

// Checks run in this order: the descriptor exists (BADF), it is of a kind
// the call applies to (ISDIR, NOTDIR, NOTSOCK), it holds the rights
// (NOTCAPABLE), the arguments are valid (INVAL), guest pointers are in
// bounds (FAULT). Only then does anything happen.

// fileArg returns the entry of fd if it is a file holding need.
func (s *System) fileArg(fd uint32, need rights) (*entry, errno) {
	e, errno := s.lookup(fd)
	switch {
	case errno != errnoSuccess:
		return nil, errno
	case e.file == nil:
		return nil, errnoIsdir
	case e.base&need != need:
		return nil, errnoNotcapable
	}
	return e, errnoSuccess
}

// nodeArg returns the entry of fd, file or directory, if it holds need.
func (s *System) nodeArg(fd uint32, need rights) (*entry, errno) {
	e, errno := s.lookup(fd)
	switch {
	case errno != errnoSuccess:
		return nil, errno
	case e.base&need != need:
		return nil, errnoNotcapable
	}
	return e, errnoSuccess
}

// gather turns the guest's iovec array into views of guest memory, in the
// System's scratch slice. The views are only valid during the call: callers
// clear them. The total is capped at maxTransfer bytes, as Linux caps one
// read or write.
func (s *System) gather(m guestMem, iovsPtr, iovsLen uint32) ([][]byte, errno) {
	if iovsLen > maxIovecs {
		return nil, errnoInval
	}
	raw, ok := m.array(iovsPtr, iovsLen, iovecSize)
	if !ok {
		return nil, errnoFault
	}
	iovs := s.iovs[:0]
	room := uint32(maxTransfer)
	for i := uint32(0); i < iovsLen; i++ {
		ptr, n := le.Uint32(raw[i*8:]), le.Uint32(raw[i*8+4:])
		b, ok := m.view(ptr, n)
		if !ok {
			clear(iovs)
			return nil, errnoFault
		}
		if room == 0 {
			continue
		}
		if n > room {
			b = b[:room]
		}
		room -= uint32(len(b))
		iovs = append(iovs, b)
	}
	s.iovs = iovs
	return iovs, errnoSuccess
}

// release forgets the views gather made, so that no guest memory is kept
// alive past the call.
func (s *System) release(iovs [][]byte) { clear(iovs) }

// offsetArg checks a file offset or size from the guest.
func offsetArg(v uint64) (int64, errno) {
	if v > math.MaxInt64 {
		return 0, errnoInval
	}
	return int64(v), errnoSuccess
}

func (s *System) fdAdvise(fd uint32, offset, length uint64, advice uint32) errno {
	e, errno := s.fileArg(fd, rightFdAdvise)
	if errno != errnoSuccess {
		return errno
	}
	off, errno1 := offsetArg(offset)
	n, errno2 := offsetArg(length)
	if advice > maxAdvice || errno1 != errnoSuccess || errno2 != errnoSuccess {
		return errnoInval
	}
	return errnoOf(e.file.Advise(off, n, vfs.Advice(advice)))
}

func (s *System) fdAllocate(fd uint32, offset, length uint64) errno {
	e, errno := s.fileArg(fd, rightFdAllocate)
	if errno != errnoSuccess {
		return errno
	}
	off, errno1 := offsetArg(offset)
	n, errno2 := offsetArg(length)
	if errno1 != errnoSuccess || errno2 != errnoSuccess {
		return errnoInval
	}
	if off > math.MaxInt64-n {
		return errnoFbig
	}
	return errnoOf(e.file.Allocate(off, n))
}

func (s *System) fdClose(fd uint32) errno {
	e, errno := s.lookup(fd)
	if errno != errnoSuccess {
		return errno
	}
	s.fds[fd] = nil
	return errnoOf(e.close())
}

func (s *System) fdSync(fd uint32, dataOnly bool) errno {
	need := rightFdSync
	if dataOnly {
		need = rightFdDatasync
	}
	e, errno := s.nodeArg(fd, need)
	if errno != errnoSuccess {
		return errno
	}
	if dataOnly {
		return errnoOf(e.node().Datasync())
	}
	return errnoOf(e.node().Sync())
}

func (s *System) fdFdstatGet(m guestMem, fd, ptr uint32) errno {
	e, errno := s.lookup(fd)
	if errno != errnoSuccess {
		return errno
	}
	b, ok := m.view(ptr, fdstatSize)
	if !ok {
		return errnoFault
	}
	clear(b)
	b[0] = byte(e.ftype)
	le.PutUint16(b[2:], e.flags)
	le.PutUint64(b[8:], uint64(e.base))
	le.PutUint64(b[16:], uint64(e.inherit))
	return errnoSuccess
}

func (s *System) fdFdstatSetFlags(fd, flags uint32) errno {
	e, errno := s.nodeArg(fd, rightFdFdstatSetFlags)
	if errno != errnoSuccess {
		return errno
	}
	if flags&^uint32(fdflagsAll) != 0 {
		return errnoInval
	}
	f := uint16(flags)
	const syncFlags = fdflagSync | fdflagDsync | fdflagRsync
	switch {
	case f&syncFlags != e.flags&syncFlags:
		return errnoNotsup // Linux cannot change O_SYNC and friends on an open file
	case e.dir != nil && f&fdflagAppend != 0:
		return errnoNotsup
	case f&fdflagAppend != e.flags&fdflagAppend:
		if err := e.file.SetAppend(f&fdflagAppend != 0); err != nil {
			return errnoOf(err)
		}
	}
	// NONBLOCK is the guest's business: it decides whether we wait.
	e.flags = f
	return errnoSuccess
}

func (s *System) fdFdstatSetRights(fd uint32, base, inherit rights) errno {
	e, errno := s.lookup(fd)
	if errno != errnoSuccess {
		return errno
	}
	if base&^e.base != 0 || inherit&^e.inherit != 0 {
		return errnoNotcapable // rights can only be dropped
	}
	e.base, e.inherit = base, inherit
	return errnoSuccess
}

func (s *System) fdFilestatGet(m guestMem, fd, ptr uint32) errno {
	e, errno := s.nodeArg(fd, rightFdFilestatGet)
	if errno != errnoSuccess {
		return errno
	}
	b, ok := m.view(ptr, filestatSize)
	if !ok {
		return errnoFault
	}
	st, err := e.node().Stat()
	if err != nil {
		return errnoOf(err)
	}
	putFilestat(b, &st)
	return errnoSuccess
}

func putFilestat(b []byte, st *vfs.Filestat) {
	clear(b[:filestatSize])
	le.PutUint64(b[0:], st.Dev)
	le.PutUint64(b[8:], st.Ino)
	b[16] = byte(st.Type)
	le.PutUint64(b[24:], st.Nlink)
	le.PutUint64(b[32:], st.Size)
	le.PutUint64(b[40:], st.Atim)
	le.PutUint64(b[48:], st.Mtim)
	le.PutUint64(b[56:], st.Ctim)
}

func (s *System) fdFilestatSetSize(fd uint32, size uint64) errno {
	e, errno := s.fileArg(fd, rightFdFilestatSetSize)
	if errno != errnoSuccess {
		return errno
	}
	n, errno := offsetArg(size)
	if errno != errnoSuccess {
		return errnoFbig
	}
	return errnoOf(e.file.Truncate(n))
}

// timesArg decodes the timestamps of fd_filestat_set_times and
// path_filestat_set_times: a time and its _NOW flag are exclusive.
func timesArg(atim, mtim uint64, fst uint32) (a, m vfs.Time, errno errno) {
	f := uint16(fst)
	if fst&^uint32(fstAll) != 0 ||
		f&(fstAtim|fstAtimNow) == fstAtim|fstAtimNow ||
		f&(fstMtim|fstMtimNow) == fstMtim|fstMtimNow {
		return a, m, errnoInval
	}
	switch {
	case f&fstAtim != 0:
		a = vfs.Time{Mode: vfs.TimeSet, Nanos: atim}
	case f&fstAtimNow != 0:
		a = vfs.Time{Mode: vfs.TimeNow}
	}
	switch {
	case f&fstMtim != 0:
		m = vfs.Time{Mode: vfs.TimeSet, Nanos: mtim}
	case f&fstMtimNow != 0:
		m = vfs.Time{Mode: vfs.TimeNow}
	}
	return a, m, errnoSuccess
}

func (s *System) fdFilestatSetTimes(fd uint32, atim, mtim uint64, fst uint32) errno {
	e, errno := s.nodeArg(fd, rightFdFilestatSetTimes)
	if errno != errnoSuccess {
		return errno
	}
	a, m, errno := timesArg(atim, mtim, fst)
	if errno != errnoSuccess {
		return errno
	}
	return errnoOf(e.node().SetTimes(a, m))
}

func (s *System) fdPread(m guestMem, fd, iovsPtr, iovsLen uint32, offset uint64, nPtr uint32) errno {
	e, errno := s.fileArg(fd, rightFdRead|rightFdSeek)
	if errno != errnoSuccess {
		return errno
	}
	off, errno := offsetArg(offset)
	if errno != errnoSuccess {
		return errno
	}
	return s.transferIovs(m, iovsPtr, iovsLen, nPtr, func(iovs [][]byte) (int, error) {
		return e.file.Preadv(iovs, off)
	})
}

func (s *System) fdPwrite(m guestMem, fd, iovsPtr, iovsLen uint32, offset uint64, nPtr uint32) errno {
	e, errno := s.fileArg(fd, rightFdWrite|rightFdSeek)
	if errno != errnoSuccess {
		return errno
	}
	off, errno := offsetArg(offset)
	if errno != errnoSuccess {
		return errno
	}
	return s.transferIovs(m, iovsPtr, iovsLen, nPtr, func(iovs [][]byte) (int, error) {
		return e.file.Pwritev(iovs, off)
	})
}

func (s *System) fdPrestatGet(m guestMem, fd, ptr uint32) errno {
	e, errno := s.lookup(fd)
	if errno != errnoSuccess {
		return errno
	}
	if !e.isPreopen {
		return errnoBadf // what guests scanning for preopens expect
	}
	b, ok := m.view(ptr, prestatSize)
	if !ok {
		return errnoFault
	}
	clear(b)
	b[0] = preopentypeDir
	le.PutUint32(b[4:], uint32(len(e.preopen)))
	return errnoSuccess
}

func (s *System) fdPrestatDirName(m guestMem, fd, ptr, n uint32) errno {
	e, errno := s.lookup(fd)
	if errno != errnoSuccess {
		return errno
	}
	if !e.isPreopen {
		return errnoBadf
	}
	if uint64(n) < uint64(len(e.preopen)) {
		return errnoNametoolong
	}
	b, ok := m.view(ptr, uint32(len(e.preopen)))
	if !ok {
		return errnoFault
	}
	copy(b, e.preopen)
	return errnoSuccess
}

func (s *System) fdRead(ctx context.Context, m guestMem, fd, iovsPtr, iovsLen, nPtr uint32) errno {
	e, errno := s.fileArg(fd, rightFdRead)
	if errno != errnoSuccess {
		return errno
	}
	return s.vectored(ctx, m, e, false, iovsPtr, iovsLen, nPtr, e.file.Readv)
}

func (s *System) fdWrite(ctx context.Context, m guestMem, fd, iovsPtr, iovsLen, nPtr uint32) errno {
	e, errno := s.fileArg(fd, rightFdWrite)
	if errno != errnoSuccess {
		return errno
	}
	return s.vectored(ctx, m, e, true, iovsPtr, iovsLen, nPtr, e.file.Writev)
}

// vectored runs one scatter/gather transfer on e, waiting for readiness as
// blocking does, and stores the byte count at nPtr.
func (s *System) vectored(ctx context.Context, m guestMem, e *entry, write bool, iovsPtr, iovsLen, nPtr uint32, transfer func([][]byte) (int, error)) errno {
	return s.transferIovs(m, iovsPtr, iovsLen, nPtr, func(iovs [][]byte) (n int, err error) {
		err = s.blocking(ctx, e, write, func() (err error) {
			n, err = transfer(iovs)
			return err
		})
		return n, err
	})
}

// transferIovs reads the guest's iovecs, runs transfer over them and stores
// the byte count at nPtr. A transfer that moved some bytes before failing
// reports the bytes; the error comes with the next call.
func (s *System) transferIovs(m guestMem, iovsPtr, iovsLen, nPtr uint32, transfer func([][]byte) (int, error)) errno {
	out, ok := m.view(nPtr, 4)
	if !ok {
		return errnoFault
	}
	iovs, errno := s.gather(m, iovsPtr, iovsLen)
	if errno != errnoSuccess {
		return errno
	}
	n, err := transfer(iovs)
	s.release(iovs)
	if err != nil && n == 0 {
		return errnoOf(err)
	}
	le.PutUint32(out, uint32(n))
	return errnoSuccess
}

// blocking runs op, an operation on e that fails with EAGAIN instead of
// blocking, until it does not fail so, waiting for e in between, unless the
// guest set NONBLOCK on e.
//
// A host descriptor is polled before a read, so that a read never blocks
// the thread where ctx cannot interrupt it (a shared stdin stays in
// blocking mode), and before a NONBLOCK write, for the same reason. For
// readiness decided in Go, the notification is armed before op is tried
// again, so that no change is lost, and then only a notification wakes us:
// a Notifier that claims readiness while op keeps failing cannot make us
// spin.
func (s *System) blocking(ctx context.Context, e *entry, write bool, op func() error) error {
	nonblock := e.nonblock()
	if e.pollfd >= 0 && (!write || nonblock) {
		if err := s.awaitHost(ctx, e, write, nonblock); err != nil {
			return err
		}
	}
	err := op()
	for err == syscall.EAGAIN && !nonblock {
		switch {
		case e.pollfd >= 0:
			if err = s.awaitHost(ctx, e, write, false); err == nil {
				err = op()
			}
		case e.notifier != nil:
			stop := e.notifier.Notify(s.wakeup)
			if err = op(); err == syscall.EAGAIN {
				if err = s.block(ctx, s.wakeOnly(), nil); err == nil {
					err = syscall.EAGAIN // woken: try again
				}
			}
			stop()
		default:
			return err // always ready: there is nothing to wait for
		}
	}
	return err
}

func (s *System) fdRenumber(from, to uint32) errno {
	e, errno := s.lookup(from)
	if errno != errnoSuccess {
		return errno
	}
	old, errno := s.lookup(to)
	if errno != errnoSuccess {
		return errno
	}
	if from == to {
		return errnoSuccess
	}
	s.fds[to], s.fds[from] = e, nil
	old.close() // as dup2, which closes silently
	return errnoSuccess
}

func (s *System) fdSeek(m guestMem, fd uint32, offset int64, whence, ptr uint32) errno {
	e, errno := s.fileArg(fd, 0)
	if errno != errnoSuccess {
		return errno
	}
	// fd_tell's right is enough to ask where we are.
	tell := offset == 0 && whence == whenceCur && e.base&rightFdTell != 0
	if e.base&rightFdSeek == 0 && !tell {
		return errnoNotcapable
	}
	if whence > whenceEnd {
		return errnoInval
	}
	out, ok := m.view(ptr, 8)
	if !ok {
		return errnoFault
	}
	pos, err := e.file.Seek(offset, int(whence)) // io.Seek* match WASI's whence
	if err != nil {
		return errnoOf(err)
	}
	le.PutUint64(out, uint64(pos))
	return errnoSuccess
}

func (s *System) fdTell(m guestMem, fd, ptr uint32) errno {
	e, errno := s.fileArg(fd, rightFdTell)
	if errno != errnoSuccess {
		return errno
	}
	out, ok := m.view(ptr, 8)
	if !ok {
		return errnoFault
	}
	pos, err := e.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return errnoOf(err)
	}
	le.PutUint64(out, uint64(pos))
	return errnoSuccess
}
