//go:build linux

package wasi

import (
	"context"
	"runtime"
	"testing"
	"time"

	"donjon.dev/wasi/vfs"
)

func (h *harness) accept(fd uint32, flags uint32) (errno, uint32) {
	out := h.alloc(4)
	e := h.call("sock_accept", uint64(fd), uint64(flags), uint64(out))
	return e, h.u32(out)
}

func (h *harness) recv(fd uint32, n int, riflags uint16) (errno, string, uint16) {
	iov, cnt, ptrs := h.iovs(make([]byte, n))
	out, ro := h.alloc(4), h.alloc(2)
	le.PutUint16(h.mem.b[ro:], 0xffff)
	e := h.call("sock_recv", uint64(fd), iov, cnt, uint64(riflags), uint64(out), uint64(ro))
	return e, string(h.bytes(ptrs[0], h.u32(out))), le.Uint16(h.mem.b[ro:])
}

func TestSockets(t *testing.T) {
	l := &fakeSocket{}
	h := newHarness(t, Socket(l))
	const lfd = 4
	buf := h.fdstat(lfd)
	if vfs.FileType(h.mem.b[buf]) != vfs.TypeSocketStream || rights(h.u64(buf+8)) != rightsSocket {
		t.Errorf("listener fdstat: type %d rights %#x", h.mem.b[buf], h.u64(buf+8))
	}
	// No connection yet: a NONBLOCK listener says so.
	h.ok("fd_fdstat_set_flags", lfd, uint64(fdflagNonblock))
	if e, _ := h.accept(lfd, 0); e != errnoAgain {
		t.Errorf("accept on an idle NONBLOCK listener: %v", e)
	}
	h.ok("fd_fdstat_set_flags", lfd, 0)
	// A blocking accept waits for a connection made from another goroutine.
	conn := &fakeSocket{}
	go func() {
		time.Sleep(10 * time.Millisecond)
		l.queue(conn)
	}()
	e, cfd := h.accept(lfd, 0)
	if e != errnoSuccess || cfd != 5 {
		t.Fatalf("accept: %v fd %d", e, cfd)
	}
	if rights(h.u64(h.fdstat(cfd)+8)) != rightsSocket {
		t.Error("the connection does not have socket rights")
	}

	conn.feed("hello world", false)
	if e, got, ro := h.recv(cfd, 5, riflagRecvPeek); e != errnoSuccess || got != "hello" || ro != 0 {
		t.Errorf("peek: %v %q roflags %#x", e, got, ro)
	}
	if e, got, _ := h.recv(cfd, 5, 0); e != errnoSuccess || got != "hello" {
		t.Errorf("recv after peek: %v %q", e, got)
	}
	// WAITALL waits for the buffer to fill.
	go func() {
		time.Sleep(10 * time.Millisecond)
		conn.feed("!", false)
		time.Sleep(10 * time.Millisecond)
		conn.feed("!", false)
	}()
	if e, got, _ := h.recv(cfd, 8, riflagRecvWaitall); e != errnoSuccess || got != " world!!" {
		t.Errorf("recv WAITALL: %v %q", e, got)
	}
	// fd_read works on sockets too, and blocks like recv.
	go func() {
		time.Sleep(10 * time.Millisecond)
		conn.feed("late", true)
	}()
	if e, got := h.read(cfd, 10); e != errnoSuccess || got != "late" {
		t.Errorf("fd_read on a socket: %v %q", e, got)
	}
	if e, got, _ := h.recv(cfd, 10, riflagRecvWaitall); e != errnoSuccess || got != "" {
		t.Errorf("recv at end of stream: %v %q", e, got)
	}

	iov, n, _ := h.iovs([]byte("re"), []byte("ply"))
	out := h.alloc(4)
	h.ok("sock_send", uint64(cfd), iov, n, 0, uint64(out))
	if h.u32(out) != 5 || conn.sent() != "reply" {
		t.Errorf("send: %d bytes, peer got %q", h.u32(out), conn.sent())
	}
	h.ok("sock_shutdown", uint64(cfd), uint64(sdflagWr))
	if !conn.shutWr || conn.shutRd {
		t.Errorf("shutdown WR: rd %v wr %v", conn.shutRd, conn.shutWr)
	}
	h.want(errnoPipe, "sock_send", uint64(cfd), iov, n, 0, uint64(out))
	h.want(errnoInval, "sock_shutdown", uint64(cfd), 0)
	h.want(errnoInval, "sock_shutdown", uint64(cfd), 4)
	h.ok("fd_close", uint64(cfd))
	if !conn.closed {
		t.Error("fd_close did not close the connection")
	}

	// A connection accepted with NONBLOCK is non-blocking.
	c2 := &fakeSocket{}
	l.queue(c2)
	e, c2fd := h.accept(lfd, uint32(fdflagNonblock))
	if e != errnoSuccess {
		t.Fatal(e)
	}
	if e, _, _ := h.recv(c2fd, 4, 0); e != errnoAgain {
		t.Errorf("recv on an idle NONBLOCK connection: %v", e)
	}
	h.want(errnoInval, "sock_accept", lfd, 1, uint64(h.alloc(4)))

	// Argument checks.
	rp, rn := h.alloc(4), h.alloc(2)
	h.want(errnoInval, "sock_recv", uint64(c2fd), iov, n, 4, uint64(rp), uint64(rn))
	h.want(errnoFault, "sock_recv", uint64(c2fd), iov, n, 0, bad, uint64(rn))
	h.want(errnoFault, "sock_recv", uint64(c2fd), iov, n, 0, uint64(rp), bad)
	h.want(errnoFault, "sock_send", uint64(c2fd), iov, n, 0, bad)
	h.want(errnoFault, "sock_accept", lfd, 0, bad)
	for _, fd := range []uint64{1, 3} {
		h.want(errnoNotsock, "sock_accept", fd, 0, uint64(h.alloc(4)))
		h.want(errnoNotsock, "sock_recv", fd, iov, n, 0, uint64(rp), uint64(rn))
		h.want(errnoNotsock, "sock_send", fd, iov, n, 0, uint64(out))
		h.want(errnoNotsock, "sock_shutdown", fd, 1)
	}
	h.want(errnoBadf, "sock_shutdown", 77, 1)
	h.ok("fd_fdstat_set_rights", uint64(c2fd), uint64(rightFdRead), 0)
	h.want(errnoNotcapable, "sock_shutdown", uint64(c2fd), 1)
	h.want(errnoNotcapable, "sock_send", uint64(c2fd), iov, n, 0, uint64(out))
}

// TestSocketLyingReadiness: a Notifier that says "ready" while Accept keeps
// failing with EAGAIN must not make a blocking accept spin; it waits for a
// notification, and for the context.
func TestSocketLyingReadiness(t *testing.T) {
	l := &fakeSocket{}
	l.feed("data on a listener: Ready says yes, Accept says EAGAIN", false)
	h := newHarness(t, Socket(l))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	h.ctx = ctx
	cpu := threadCPU(t)
	if e, _ := h.accept(4, 0); e != errnoCanceled {
		t.Errorf("accept: %v, want CANCELED when the context ends", e)
	}
	if spent := threadCPU(t) - cpu; spent > 25*time.Millisecond {
		t.Errorf("a 50ms blocked accept used %v of CPU", spent)
	}
}
