package tlsnet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"donjon.dev/wasi/vfs"
)

// tap is a TCP relay between a client and s that records what crosses the
// wire in both directions.
type tap struct {
	addr  string
	mu    sync.Mutex
	wire  bytes.Buffer
	relay sync.WaitGroup
}

func newTap(t *testing.T, target string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{addr: ln.Addr().String()}
	tp.relay.Add(1)
	go func() {
		defer tp.relay.Done()
		defer ln.Close()
		in, err := ln.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		out, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer out.Close()
		var both sync.WaitGroup
		both.Add(2)
		copyHalf := func(dst, src net.Conn) {
			defer both.Done()
			io.Copy(io.MultiWriter(dst, tp), src)
			dst.(*net.TCPConn).CloseWrite()
		}
		go copyHalf(out, in)
		go copyHalf(in, out)
		both.Wait()
	}()
	t.Cleanup(func() { ln.Close(); tp.relay.Wait() })
	return tp
}

func (tp *tap) Write(p []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.wire.Write(p)
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.wire.Bytes())
}

// TestPlaintextToGuestTLSOnWire: the guest reads and writes plaintext, the
// wire carries only TLS 1.3 records.
func TestPlaintextToGuestTLSOnWire(t *testing.T) {
	s := listenTLS(t, Options{})
	tp := newTap(t, s.addr())
	cfg := s.clientConfig()
	cfg.ServerName = "127.0.0.1"
	raw, err := net.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	client := tls.Client(raw, cfg)
	defer client.Close()
	client.SetDeadline(time.Now().Add(2 * patience))
	request := "GET /secret-request HTTP/1.1\r\nHost: keep\r\n\r\n"
	response := "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\nsecret-response"
	if _, err := io.WriteString(client, request); err != nil {
		t.Fatal(err)
	}

	c := accept(t, s.Listener)
	st, ok := c.ConnectionState()
	if !ok || st.Version != tls.VersionTLS13 {
		t.Errorf("ConnectionState: %v, version %#x; want TLS 1.3", ok, st.Version)
	}
	peek := make([]byte, 4)
	await(t, c, func() error { _, err := c.Recv([][]byte{peek}, true); return err })
	if string(peek) != "GET " {
		t.Errorf("peek: %q", peek)
	}
	if got := recvFull(t, c, len(request)); string(got) != request {
		t.Errorf("guest received %q, want %q", got, request)
	}
	sendAll(t, c, []byte(response))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	got, err := io.ReadAll(client)
	if err != nil || string(got) != response {
		t.Errorf("client received %q, %v; want %q and end of stream", got, err, response)
	}
	client.Close()
	raw.Close()
	tp.relay.Wait()
	wire := tp.bytes()
	if !bytes.Contains(wire, []byte{0x17, 0x03, 0x03}) || len(wire) < len(request)+len(response) {
		t.Fatalf("the tap saw %d bytes and no TLS application data", len(wire))
	}
	for _, secret := range []string{"secret-request", "secret-response", "HTTP/1.1"} {
		if bytes.Contains(wire, []byte(secret)) {
			t.Errorf("%q crossed the wire in the clear", secret)
		}
	}
}

// TestRefusesPlaintextAndOldTLS: a plaintext client and a TLS 1.2 client
// are refused and logged; the listener serves the next client.
func TestRefusesPlaintextAndOldTLS(t *testing.T) {
	s := listenTLS(t, Options{})

	plain := s.dialRaw(t)
	if _, err := io.WriteString(plain, "GET / HTTP/1.1\r\nHost: keep\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(plain) // the listener hangs up
	if bytes.HasPrefix(got, []byte("HTTP/")) {
		t.Errorf("a plaintext client got an HTTP answer: %q", got)
	}
	s.waitLog(t, "first record does not look like a TLS handshake")

	old := tls.Client(s.dialRaw(t), &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
	if err := old.Handshake(); err == nil {
		t.Fatal("a TLS 1.2 client completed a handshake")
	}
	s.waitLog(t, "unsupported versions")
	if _, err := s.Accept(); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Accept after refused clients: %v, want EAGAIN", err)
	}
	if n := strings.Count(s.logs.String(), "level=WARN msg=\"tlsnet: TLS handshake failed"); n != 2 {
		t.Errorf("%d handshake warnings, want 2:\n%s", n, s.logs.String())
	}
	if !strings.Contains(s.logs.String(), "remote=127.0.0.1:") {
		t.Errorf("the warnings do not name the remote address:\n%s", s.logs.String())
	}

	client := s.dial(t)
	io.WriteString(client, "ping")
	c := accept(t, s.Listener)
	defer c.Close()
	if got := recvFull(t, c, 4); string(got) != "ping" {
		t.Errorf("guest received %q", got)
	}
}

// TestDial: Dial completes the handshake, so an untrusted certificate or an
// old server is an error of Dial.
func TestDial(t *testing.T) {
	ctx := context.Background()
	s := listenTLS(t, Options{})
	c, err := Dial(ctx, "tcp", s.addr(), Options{TLS: &tls.Config{RootCAs: s.pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, ok := c.ConnectionState(); !ok || !st.HandshakeComplete || st.Version != tls.VersionTLS13 {
		t.Errorf("ConnectionState: %v %+v", ok, st)
	}
	peer := accept(t, s.Listener)
	defer peer.Close()
	sendAll(t, c, []byte("ping"))
	if got := recvFull(t, peer, 4); string(got) != "ping" {
		t.Errorf("listener side received %q", got)
	}
	sendAll(t, peer, []byte("pong"))
	if got := recvFull(t, c, 4); string(got) != "pong" {
		t.Errorf("dialing side received %q", got)
	}

	_, err = Dial(ctx, "tcp", s.addr(), Options{TLS: &tls.Config{}}) // system roots do not know s
	if err == nil || !strings.Contains(err.Error(), "verify") {
		t.Errorf("Dial to an untrusted server: %v, want a verification error", err)
	}

	// A server that speaks TLS 1.2 at most is refused.
	cert, pool := newCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	if _, err := Dial(ctx, "tcp", ln.Addr().String(), Options{TLS: &tls.Config{RootCAs: pool}}); err == nil {
		t.Error("Dial to a TLS 1.2 server succeeded")
	}

	if _, err := Dial(ctx, "udp", s.addr(), Options{}); err == nil {
		t.Error("Dial over udp succeeded")
	}
}

func TestListenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Listen(ctx, "tcp", "127.0.0.1:0", Options{TLS: &tls.Config{}}); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("Listen without a certificate: %v", err)
	}
	if _, err := Listen(ctx, "unix", "/tmp/x", Options{}); err == nil {
		t.Error("Listen on a unix socket succeeded")
	}
	s := listen(t, Options{})
	if _, err := Listen(ctx, "tcp", s.addr(), Options{}); err == nil {
		t.Error("Listen on an address in use succeeded")
	}
}

func TestPlainTCP(t *testing.T) {
	s := listen(t, Options{})
	client, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(2 * patience))
	io.WriteString(client, "hello")
	c := accept(t, s.Listener)
	if _, ok := c.ConnectionState(); ok {
		t.Error("ConnectionState of plain TCP reports TLS")
	}
	if got := recvFull(t, c, 5); string(got) != "hello" {
		t.Errorf("guest received %q", got)
	}
	sendAll(t, c, []byte("world"))
	c.Close()
	if got, err := io.ReadAll(client); err != nil || string(got) != "world" {
		t.Errorf("client received %q, %v", got, err)
	}

	d, err := Dial(context.Background(), "tcp", s.addr(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	peer := accept(t, s.Listener)
	defer peer.Close()
	sendAll(t, d, []byte("plain"))
	if got := recvFull(t, peer, 5); string(got) != "plain" {
		t.Errorf("received %q", got)
	}
}

// fillUntilStalled sends to c until Send has failed with EAGAIN and no
// notification came for a while, and returns how many bytes it sent.
func fillUntilStalled(t *testing.T, c *Conn) int {
	t.Helper()
	w := newWaker()
	stop := c.Notify(w.wake)
	defer stop()
	total := 0
	for {
		n, err := c.Send([][]byte{pattern(total, 64<<10)})
		total += n
		switch {
		case errors.Is(err, syscall.EAGAIN):
			if !w.wait(300*time.Millisecond) && !c.Ready(true) {
				return total
			}
		case err != nil:
			t.Fatal(err)
		}
		if total > 256<<20 {
			t.Fatalf("sent %d bytes to a peer that does not read", total)
		}
	}
}

// TestBackPressureSend: a peer that does not read fills its connection's
// buffers and Send stops taking data; another connection is unaffected, and
// nothing is lost once the peer reads.
func TestBackPressureSend(t *testing.T) {
	s := listenTLS(t, Options{BufferSize: 16 << 10})
	slow := s.dial(t)
	a := accept(t, s.Listener)
	total := fillUntilStalled(t, a)
	if total < 16<<10 {
		t.Fatalf("stalled after %d bytes, less than the buffer", total)
	}
	if a.Ready(true) {
		t.Error("Ready(write) while the send buffer is full")
	}

	b := s.dial(t)
	io.WriteString(b, "still there?")
	cb := accept(t, s.Listener)
	if got := recvFull(t, cb, 12); string(got) != "still there?" {
		t.Errorf("second connection received %q", got)
	}
	sendAll(t, cb, []byte("yes"))
	if got := make([]byte, 3); func() error { _, err := io.ReadFull(b, got); return err }() != nil || string(got) != "yes" {
		t.Errorf("second client received %q", got)
	}
	cb.Close()

	got, err := io.ReadAll(io.LimitReader(slow, int64(total)))
	if err != nil || !bytes.Equal(got, pattern(0, total)) {
		t.Fatalf("slow client read %d of %d bytes (%v), or they differ", len(got), total, err)
	}
	if !a.Ready(true) {
		// The writer drained the buffer once the peer read: say so.
		await(t, a, func() error {
			if a.Ready(true) {
				return nil
			}
			return syscall.EAGAIN
		})
	}
	a.Close()
	if rest, err := io.ReadAll(slow); err != nil || len(rest) != 0 {
		t.Errorf("after the data: %d more bytes, %v; want end of stream", len(rest), err)
	}
}

// TestBackPressureRecv: while the guest does not read, the receive buffer
// fills to BufferSize and no further, and the peer cannot finish writing.
func TestBackPressureRecv(t *testing.T) {
	const bufSize = 16 << 10
	const total = 16 << 20 // far more than the kernel buffers of an idle reader
	s := listenTLS(t, Options{BufferSize: bufSize})
	client := s.dial(t)
	var written atomic.Bool
	go func() {
		client.Write(pattern(0, total))
		written.Store(true)
	}()
	c := accept(t, s.Listener)
	defer c.Close()
	buffered := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.in.len()
	}
	await(t, c, func() error {
		if buffered() < bufSize {
			return syscall.EAGAIN
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // room for a reader that ignores the bound
	if n := buffered(); n != bufSize {
		t.Errorf("%d bytes buffered, want %d", n, bufSize)
	}
	if written.Load() {
		t.Error("the peer wrote 16 MiB to a guest that reads nothing")
	}
	if got := recvFull(t, c, total); !bytes.Equal(got, pattern(0, total)) {
		t.Error("the guest received other bytes than were sent")
	}
	waitFor(t, "the peer's write to return", written.Load)
}

// TestCloseFlushes: Close returns at once; the peer still receives all of
// a large response, reading slowly, and a clean end of stream, even though
// the guest left most of the peer's request unread (closing a socket with
// unread data makes the kernel reset the connection).
func TestCloseFlushes(t *testing.T) {
	const size = 1 << 20
	s := listenTLS(t, Options{BufferSize: 2 << 20})
	client := s.dial(t)
	go client.Write(pattern(0, 4<<20)) // more than the receive buffer: it stalls
	c := accept(t, s.Listener)
	data := pattern(0, size)
	if n, err := c.Send([][]byte{data[:size/2], data[size/2:]}); n != size || err != nil {
		t.Fatalf("Send: %d, %v; want all %d bytes buffered", n, err, size)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 8<<10)
	for {
		n, err := client.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		time.Sleep(time.Millisecond)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("peer received %d bytes, want the %d written", len(got), size)
	}
}

// TestManyConnections: one guest goroutine serves 1,000 exchanges over 50
// concurrent connections, waiting on notifications only.
func TestManyConnections(t *testing.T) {
	const clients, rounds = 50, 20
	s := listenTLS(t, Options{})

	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: patience}, "tcp", s.addr(), s.clientConfig())
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(3 * patience))
				r := bufio.NewReader(c)
				for j := range rounds {
					req := fmt.Sprintf("request %d.%d\n", i, j)
					if _, err := io.WriteString(c, req); err != nil {
						return err
					}
					resp, err := r.ReadString('\n')
					if err != nil {
						return fmt.Errorf("client %d round %d: %w", i, j, err)
					}
					if resp != "ok "+req {
						return fmt.Errorf("client %d round %d: answer %q to %q", i, j, resp, req)
					}
				}
				return nil
			}()
		}()
	}

	type peer struct {
		c        *Conn
		stop     func()
		in, out  []byte
		answered int
	}
	var peers []*peer
	defer func() {
		for _, p := range peers {
			p.stop()
			p.c.Close()
		}
		wg.Wait()
	}()
	w := newWaker()
	defer s.Notify(w.wake)()
	buf := make([]byte, 4096)
	accepted, served := 0, 0
	for accepted < clients || len(peers) > 0 {
		progress := false
		if sock, err := s.Accept(); err == nil {
			p := &peer{c: sock.(*Conn)}
			p.stop = p.c.Notify(w.wake)
			peers = append(peers, p)
			accepted++
			progress = true
		} else if !errors.Is(err, syscall.EAGAIN) {
			t.Fatal(err)
		}
		for i := 0; i < len(peers); i++ {
			p := peers[i]
			if len(p.out) > 0 {
				n, err := p.c.Send([][]byte{p.out})
				if err != nil && !errors.Is(err, syscall.EAGAIN) {
					t.Fatal(err)
				}
				p.out = p.out[n:]
				progress = progress || n > 0
			}
			n, err := p.c.Recv([][]byte{buf}, false)
			switch {
			case errors.Is(err, syscall.EAGAIN):
			case err != nil:
				t.Fatal(err)
			case n == 0: // the client is done
				if p.answered != rounds || len(p.out) > 0 {
					t.Errorf("a client hung up after %d answers", p.answered)
				}
				p.stop()
				p.c.Close()
				peers = append(peers[:i], peers[i+1:]...)
				i--
				progress = true
			default:
				progress = true
				p.in = append(p.in, buf[:n]...)
				for {
					line, rest, ok := bytes.Cut(p.in, []byte("\n"))
					if !ok {
						break
					}
					p.out = append(p.out, "ok "...)
					p.out = append(p.out, line...)
					p.out = append(p.out, '\n')
					p.in = rest
					p.answered++
					served++
				}
			}
		}
		if !progress && !w.wait(patience) {
			t.Fatalf("stuck after %d exchanges with %d connections open", served, len(peers))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if served != clients*rounds {
		t.Errorf("served %d exchanges, want %d", served, clients*rounds)
	}
}

// TestNotify: wake is called when a connection is ready to accept, when
// data arrives and when the peer ends the stream; stop disarms it.
func TestNotify(t *testing.T) {
	s := listenTLS(t, Options{})
	w := newWaker()
	stopL := s.Notify(w.wake)
	if s.Ready(false) {
		t.Error("an idle listener is ready to accept")
	}
	client := s.dial(t)
	if !w.wait(patience) {
		t.Fatal("no wake-up for a new connection")
	}
	stopL()
	if !s.Ready(false) {
		t.Error("listener not ready after its wake-up")
	}
	sock, err := s.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := sock.(*Conn)
	defer c.Close()

	stop := c.Notify(w.wake)
	if c.Ready(false) {
		t.Error("ready to read before any data")
	}
	if !c.Ready(true) {
		t.Error("not ready to write with an empty send buffer")
	}
	io.WriteString(client, "x")
	if !w.wait(patience) {
		t.Fatal("no wake-up for data")
	}
	if !c.Ready(false) {
		t.Error("not ready to read after the wake-up")
	}
	stop() // one notification at a time: recvFull arms its own
	if got := recvFull(t, c, 1); string(got) != "x" {
		t.Errorf("received %q", got)
	}
	stop = c.Notify(w.wake)
	client.CloseWrite()
	if !w.wait(patience) {
		t.Fatal("no wake-up for the end of stream")
	}
	if !c.Ready(false) {
		t.Error("not ready to read at the end of stream")
	}
	recvEOF(t, c)
	stop()
	c.notifier.mu.Lock()
	armed := c.notifier.wake != nil
	c.notifier.mu.Unlock()
	if armed {
		t.Error("stop left wake armed")
	}
	// A stale stop must not disarm a newer notification.
	stop2 := c.Notify(w.wake)
	stop()
	c.notifier.mu.Lock()
	armed = c.notifier.wake != nil
	c.notifier.mu.Unlock()
	stop2()
	if !armed {
		t.Error("an old stop disarmed a newer Notify")
	}
}

// TestHandshakeIsolation: a client that stalls its handshake delays no one,
// is dropped after HandshakeTimeout, and beyond MaxPending new connections
// are closed at once.
func TestHandshakeIsolation(t *testing.T) {
	t.Run("slow peer", func(t *testing.T) {
		s := listenTLS(t, Options{})
		s.dialRaw(t) // says nothing
		waitFor(t, "the staller to be pending", func() bool { return s.pendingCount() == 1 })
		client := s.dial(t)
		io.WriteString(client, "served")
		c := accept(t, s.Listener)
		defer c.Close()
		if got := recvFull(t, c, 6); string(got) != "served" {
			t.Errorf("received %q", got)
		}
		if n := s.pendingCount(); n != 1 {
			t.Errorf("%d connections pending, want the staller", n)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s := listenTLS(t, Options{HandshakeTimeout: 200 * time.Millisecond})
		staller := s.dialRaw(t)
		if _, err := io.ReadAll(staller); err != nil {
			t.Errorf("the staller's connection ended with %v, want a close", err)
		}
		s.waitLog(t, "no handshake within 200ms")
		waitFor(t, "the staller to be forgotten", func() bool { return s.pendingCount() == 0 })
	})
	t.Run("max pending", func(t *testing.T) {
		s := listenTLS(t, Options{MaxPending: 1})
		staller := s.dialRaw(t)
		waitFor(t, "the staller to be pending", func() bool { return s.pendingCount() == 1 })
		extra := s.dialRaw(t)
		if _, err := io.ReadAll(extra); err != nil {
			t.Errorf("the extra connection ended with %v, want a close", err)
		}
		s.waitLog(t, "too many connections")
		staller.Close()
		waitFor(t, "the staller to be forgotten", func() bool { return s.pendingCount() == 0 })
		client := s.dial(t)
		io.WriteString(client, "served")
		c := accept(t, s.Listener)
		defer c.Close()
		if got := recvFull(t, c, 6); string(got) != "served" {
			t.Errorf("received %q", got)
		}
	})
}

func TestShutdown(t *testing.T) {
	s := listenTLS(t, Options{})
	client := s.dial(t)
	c := accept(t, s.Listener)
	defer c.Close()
	sendAll(t, c, []byte("bye"))
	if err := c.Shutdown(false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send([][]byte{[]byte("more")}); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Send after shutdown: %v, want EPIPE", err)
	}
	if got, err := io.ReadAll(client); err != nil || string(got) != "bye" {
		t.Errorf("client received %q, %v; want \"bye\" and end of stream", got, err)
	}
	// The other direction still works.
	io.WriteString(client, "after")
	if got := recvFull(t, c, 5); string(got) != "after" {
		t.Errorf("received %q after shutting down writes", got)
	}
	if err := c.Shutdown(true, false); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Recv([][]byte{make([]byte, 8)}, false); n != 0 || err != nil {
		t.Errorf("Recv after shutting down reads: %d, %v; want end of stream", n, err)
	}
}

// TestFileOps: the File methods that do not apply to sockets fail as on
// Linux; a listener carries no data; Close twice fails.
func TestFileOps(t *testing.T) {
	s := listenTLS(t, Options{})
	s.dial(t)
	c := accept(t, s.Listener)
	for name, sock := range map[string]vfs.Socket{"listener": s.Listener, "conn": c} {
		st, err := sock.Stat()
		if err != nil || st.Type != vfs.TypeSocketStream || sock.Type() != vfs.TypeSocketStream {
			t.Errorf("%s: Stat %+v, %v", name, st, err)
		}
		checks := []struct {
			op   string
			err  error
			want syscall.Errno
		}{
			{"Seek", second(sock.Seek(0, io.SeekStart)), syscall.ESPIPE},
			{"Preadv", second(sock.Preadv(nil, 0)), syscall.ESPIPE},
			{"Pwritev", second(sock.Pwritev(nil, 0)), syscall.ESPIPE},
			{"Allocate", sock.Allocate(0, 1), syscall.ESPIPE},
			{"Advise", sock.Advise(0, 1, vfs.AdviceNormal), syscall.ESPIPE},
			{"Truncate", sock.Truncate(0), syscall.EINVAL},
			{"Sync", sock.Sync(), syscall.EINVAL},
			{"Datasync", sock.Datasync(), syscall.EINVAL},
			{"SetTimes", sock.SetTimes(vfs.Time{}, vfs.Time{}), syscall.ENOTSUP},
			{"SetAppend", sock.SetAppend(true), syscall.ENOTSUP},
		}
		for _, c := range checks {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: %s: %v, want %v", name, c.op, c.err, c.want)
			}
		}
	}
	if _, err := c.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Accept on a connection: %v", err)
	}
	buf := [][]byte{make([]byte, 4)}
	for op, err := range map[string]error{
		"Recv":     second(s.Recv(buf, false)),
		"Readv":    second(s.Readv(buf)),
		"Send":     second(s.Send(buf)),
		"Writev":   second(s.Writev(buf)),
		"Shutdown": s.Shutdown(true, true),
	} {
		if !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("listener %s: %v, want ENOTCONN", op, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Recv(buf, false); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Recv after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Accept after Close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestNoGoroutineLeak: once the listener and its connections are closed,
// every goroutine ends, including those of a connection whose peer never
// reads (cut after CloseTimeout), one never accepted, and a handshake
// under way.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := listenTLS(t, Options{BufferSize: 16 << 10, CloseTimeout: 100 * time.Millisecond})

	s.dial(t) // never reads
	stuck := accept(t, s.Listener)
	fillUntilStalled(t, stuck)

	polite := s.dial(t)
	c := accept(t, s.Listener)
	io.WriteString(polite, "hi")
	recvFull(t, c, 2)

	s.dial(t) // never accepted
	s.dialRaw(t)
	waitFor(t, "both to be pending", func() bool { return s.pendingCount() == 2 })

	stuck.Close()
	c.Close()
	polite.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(patience)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPeerReset: a reset by the peer reaches the guest as ECONNRESET, once
// the data received before it has been read.
func TestPeerReset(t *testing.T) {
	s := listenTLS(t, Options{})
	client := s.dial(t)
	c := accept(t, s.Listener)
	defer c.Close()
	io.WriteString(client, "last words")
	await(t, c, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.in.len() < 10 {
			return syscall.EAGAIN
		}
		return nil
	})
	client.NetConn().(*net.TCPConn).SetLinger(0) // close with a reset
	client.NetConn().Close()
	await(t, c, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.rerr == nil {
			return syscall.EAGAIN
		}
		return nil
	})
	if got := recvFull(t, c, 10); string(got) != "last words" {
		t.Errorf("received %q", got)
	}
	if _, err := c.Recv([][]byte{make([]byte, 8)}, false); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Recv after a reset: %v, want ECONNRESET", err)
	}
}

// TestOpenCountsFlushingConnections: Options.Open lets a process wait until
// what its guest wrote before closing has left.
func TestOpenCountsFlushingConnections(t *testing.T) {
	var open sync.WaitGroup
	s := listenTLS(t, Options{Open: &open})
	client := s.dial(t)
	c := accept(t, s.Listener)
	data := pattern(0, 48<<10)
	if n, err := c.Send([][]byte{data}); n != len(data) || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	c.Close()
	done := make(chan struct{})
	go func() { open.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("Open reached zero while the connection still had data to send and the peer had not closed")
	case <-time.After(100 * time.Millisecond):
	}
	got, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("peer read %d bytes, %v", len(got), err)
	}
	client.Close()
	<-done // the connection is closed once the peer has ended its side
}
