//go:build linux

package wasi

import (
	"context"

	"donjon.dev/wasi/vfs"
)

// sockArg returns the entry of fd if it is a socket holding need.
func (s *System) sockArg(fd uint32, need rights) (*entry, errno) {
	e, errno := s.lookup(fd)
	switch {
	case errno != errnoSuccess:
		return nil, errno
	case e.sock == nil:
		return nil, errnoNotsock
	case e.base&need != need:
		return nil, errnoNotcapable
	}
	return e, errnoSuccess
}

func (s *System) sockAccept(ctx context.Context, m guestMem, fd, flags, fdPtr uint32) errno {
	e, errno := s.sockArg(fd, rightSockAccept)
	if errno != errnoSuccess {
		return errno
	}
	if flags&^uint32(fdflagNonblock) != 0 {
		return errnoInval
	}
	out, ok := m.view(fdPtr, 4)
	if !ok {
		return errnoFault
	}
	var conn vfs.Socket
	err := s.blocking(ctx, e, false, func() (err error) {
		conn, err = e.sock.Accept()
		return err
	})
	if err != nil {
		return errnoOf(err)
	}
	newFd, errno := s.install(newEntry(conn, e.inherit, e.inherit, uint16(flags)))
	if errno != errnoSuccess {
		conn.Close()
		return errno
	}
	le.PutUint32(out, newFd)
	return errnoSuccess
}

func (s *System) sockRecv(ctx context.Context, m guestMem, fd, iovsPtr, iovsLen, riflags, nPtr, roflagsPtr uint32) errno {
	e, errno := s.sockArg(fd, rightFdRead)
	if errno != errnoSuccess {
		return errno
	}
	if riflags&^uint32(riflagRecvPeek|riflagRecvWaitall) != 0 {
		return errnoInval
	}
	out, ok1 := m.view(nPtr, 4)
	roflags, ok2 := m.view(roflagsPtr, 2)
	if !ok1 || !ok2 {
		return errnoFault
	}
	iovs, errno := s.gather(m, iovsPtr, iovsLen)
	if errno != errnoSuccess {
		return errno
	}
	defer s.release(iovs)
	peek := riflags&uint32(riflagRecvPeek) != 0
	recv := func(iovs [][]byte) (n int, err error) {
		err = s.blocking(ctx, e, false, func() (err error) {
			n, err = e.sock.Recv(iovs, peek)
			return err
		})
		return n, err
	}
	n, err := recv(iovs)
	if riflags&uint32(riflagRecvWaitall) != 0 && !peek && !e.nonblock() {
		// Keep reading until the buffers are full, the peer stops sending
		// or something fails.
		want := total(iovs)
		rest := advance(iovs, n)
		for err == nil && n > 0 && n < want {
			var k int
			if k, err = recv(rest); k == 0 {
				break
			}
			n += k
			rest = advance(rest, k)
		}
	}
	if err != nil && n == 0 {
		return errnoOf(err)
	}
	le.PutUint32(out, uint32(n))
	le.PutUint16(roflags, 0) // stream sockets never truncate
	return errnoSuccess
}

// advance drops the first n bytes of iovs. It shortens iovs's elements in
// place.
func advance(iovs [][]byte, n int) [][]byte {
	for len(iovs) > 0 && n >= len(iovs[0]) {
		n -= len(iovs[0])
		iovs = iovs[1:]
	}
	if len(iovs) > 0 {
		iovs[0] = iovs[0][n:]
	}
	return iovs
}

func (s *System) sockSend(ctx context.Context, m guestMem, fd, iovsPtr, iovsLen, _, nPtr uint32) errno {
	// si_flags has no flags defined; wasi-libc passes send's flags through,
	// so they are ignored rather than refused.
	e, errno := s.sockArg(fd, rightFdWrite)
	if errno != errnoSuccess {
		return errno
	}
	return s.vectored(ctx, m, e, true, iovsPtr, iovsLen, nPtr, e.sock.Send)
}

func (s *System) sockShutdown(fd, how uint32) errno {
	e, errno := s.sockArg(fd, rightSockShutdown)
	if errno != errnoSuccess {
		return errno
	}
	if how == 0 || how&^uint32(sdflagRd|sdflagWr) != 0 {
		return errnoInval
	}
	return errnoOf(e.sock.Shutdown(how&uint32(sdflagRd) != 0, how&uint32(sdflagWr) != 0))
}
