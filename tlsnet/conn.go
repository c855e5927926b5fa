package tlsnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"donjon.dev/wasi/vfs"
)

var (
	_ vfs.Socket   = (*Conn)(nil)
	_ vfs.Notifier = (*Conn)(nil)
)

// chunkSize is how much the reader and the writer move per network call:
// one TLS record's worth.
const chunkSize = 16 << 10

// Conn is a connected socket: accepted by a Listener or made by Dial. Its
// methods never block; see the package documentation.
type Conn struct {
	stream
	notifier

	raw          net.Conn  // the TCP connection
	conn         net.Conn  // what carries plaintext: tc, or raw
	tc           *tls.Conn // nil for plain TCP
	closeTimeout time.Duration
	readDone     chan struct{}   // closed when the reader has returned
	open         *sync.WaitGroup // Options.Open, or nil

	mu       sync.Mutex
	canRead  sync.Cond // the reader waits here for room
	canWrite sync.Cond // the writer waits here for data, or Close
	in, out  buffer
	rerr     error // what ended the receiving side: io.EOF or a failure
	werr     error // what broke the sending side
	shutRd   bool
	shutWr   bool
	closed   bool
}

// newConn serves an established connection (handshake done, for TLS).
func newConn(raw net.Conn, tc *tls.Conn, opts Options) *Conn {
	c := &Conn{
		raw:          raw,
		conn:         raw,
		tc:           tc,
		closeTimeout: opts.CloseTimeout,
		readDone:     make(chan struct{}),
		open:         opts.Open,
		in:           buffer{max: opts.BufferSize},
		out:          buffer{max: opts.BufferSize},
	}
	if tc != nil {
		c.conn = tc
	}
	c.canRead.L = &c.mu
	c.canWrite.L = &c.mu
	if c.open != nil {
		c.open.Add(1)
	}
	go c.readLoop()
	go c.writeLoop()
	return c
}

// Dial connects to address and, for TLS, completes the handshake before it
// returns, so that a certificate that fails verification is an error here.
// ctx bounds the connection and the handshake, which HandshakeTimeout
// bounds too; the Conn then lives until Close. With TLS and no ServerName,
// the host of address is verified.
func Dial(ctx context.Context, network, address string, opts Options) (*Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, fmt.Errorf("tlsnet: dial %s: %w", address, err)
	}
	opts = opts.withDefaults()
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("tlsnet: dial %s: %w", address, err)
	}
	if opts.TLS == nil {
		return newConn(raw, nil, opts), nil
	}
	cfg := opts.TLS
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("tlsnet: dial %s: %w", address, err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no handshake within %v", opts.HandshakeTimeout)
		}
		return nil, fmt.Errorf("tlsnet: TLS handshake with %s: %w", address, err)
	}
	return newConn(raw, tc, opts), nil
}

// ConnectionState is the TLS state of the connection, and false for plain
// TCP.
func (c *Conn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tc == nil {
		return tls.ConnectionState{}, false
	}
	return c.tc.ConnectionState(), true
}

// readLoop fills the receive buffer from the network. While the buffer is
// full it does not read, so the peer feels the back-pressure. Once the
// guest has closed or shut down reading it discards what arrives, until the
// peer ends the stream or the close deadline passes.
func (c *Conn) readLoop() {
	defer close(c.readDone)
	buf := make([]byte, min(chunkSize, c.in.max))
	for {
		c.mu.Lock()
		for c.in.room() == 0 && !c.closed && !c.shutRd {
			c.canRead.Wait()
		}
		n := len(buf)
		if !c.closed && !c.shutRd {
			n = min(n, c.in.room())
		}
		c.mu.Unlock()

		k, err := c.conn.Read(buf[:n])

		c.mu.Lock()
		deliver := !c.closed && !c.shutRd
		if deliver {
			c.in.push(buf[:k]) // fits: only this goroutine adds
			if err != nil {
				c.rerr = err
			}
		}
		c.mu.Unlock()
		if deliver && (k > 0 || err != nil) {
			c.changed()
		}
		if err != nil {
			return
		}
	}
}

// writeLoop drains the send buffer to the network. Once the guest has shut
// down writing or closed, and everything is sent, it ends the stream. After
// Close it waits for the peer to end its side too (see the package
// documentation), then closes the connection: it is the only one that does.
func (c *Conn) writeLoop() {
	buf := make([]byte, min(chunkSize, c.out.max))
	c.mu.Lock()
	for c.werr == nil {
		for c.out.len() == 0 && !c.closed && !c.shutWr {
			c.canWrite.Wait()
		}
		if c.out.len() == 0 {
			break
		}
		n := copy(buf, c.out.bytes())
		c.mu.Unlock()

		k, err := c.conn.Write(buf[:n])

		c.mu.Lock()
		c.out.pop(k)
		if err != nil {
			c.werr = err
			c.out.reset()
		}
		c.mu.Unlock()
		c.changed()
		c.mu.Lock()
	}
	flushed := c.werr == nil
	c.mu.Unlock()

	if flushed {
		c.closeWrite()
	}
	c.mu.Lock()
	for !c.closed {
		c.canWrite.Wait()
	}
	c.mu.Unlock()
	if flushed {
		// Closing while the peer's data sits unread makes the kernel send
		// a reset, which may destroy our last bytes before the peer reads
		// them: wait for the peer's end (or the close deadline) first.
		<-c.readDone
	}
	c.raw.Close()
	if c.open != nil {
		c.open.Done()
	}
}

// closeWrite ends the sending side on the wire: close_notify, then FIN.
// Errors mean the peer is gone or the deadline passed: nothing to do.
func (c *Conn) closeWrite() {
	if c.tc != nil {
		if c.tc.CloseWrite() != nil {
			return
		}
	}
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// Ready reports whether Recv (write false) or Send (write true) would
// make progress now.
func (c *Conn) Ready(write bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return true
	}
	if write {
		return c.out.room() > 0 || c.shutWr || c.werr != nil
	}
	return c.in.len() > 0 || c.rerr != nil || c.shutRd
}

// Recv copies received plaintext into iovs; with peek it stays queued. At
// the end of the stream it returns 0 and no error, as read(2) does; a
// failure of the connection is returned once the data before it has been
// read.
func (c *Conn) Recv(iovs [][]byte, peek bool) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, syscall.EBADF
	case c.shutRd:
		return 0, nil
	case c.in.len() == 0:
		switch {
		case c.rerr == nil:
			return 0, syscall.EAGAIN
		case errors.Is(c.rerr, io.EOF):
			return 0, nil
		}
		return 0, fmt.Errorf("tlsnet: receive: %w", c.rerr)
	}
	n := c.in.copyOut(iovs)
	if !peek && n > 0 {
		c.in.pop(n)
		c.canRead.Signal()
	}
	return n, nil
}

// Send queues as much of iovs as the send buffer has room for, and
// returns how much that was; EAGAIN if it is full.
func (c *Conn) Send(iovs [][]byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, syscall.EBADF
	case c.shutWr:
		return 0, syscall.EPIPE
	case c.werr != nil:
		return 0, fmt.Errorf("tlsnet: send: %w", c.werr)
	}
	n, want := 0, 0
	for _, b := range iovs {
		want += len(b)
		k := c.out.push(b)
		n += k
		if k < len(b) {
			break
		}
	}
	switch {
	case n > 0:
		c.canWrite.Signal()
	case want > 0:
		return 0, syscall.EAGAIN
	}
	return n, nil
}

// Readv is Recv without peeking.
func (c *Conn) Readv(iovs [][]byte) (int, error) { return c.Recv(iovs, false) }

// Writev is Send.
func (c *Conn) Writev(iovs [][]byte) (int, error) { return c.Send(iovs) }

// Accept fails: a connection is not a listening socket.
func (c *Conn) Accept() (vfs.Socket, error) { return nil, syscall.EINVAL }

// Shutdown ends receiving (what arrives is then discarded) and/or sending
// (what the guest already wrote is still sent, then the stream ends).
func (c *Conn) Shutdown(read, write bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return syscall.EBADF
	}
	if read && !c.shutRd {
		c.shutRd = true
		c.in.reset()
		c.canRead.Signal()
	}
	if write && !c.shutWr {
		c.shutWr = true
		c.canWrite.Signal()
	}
	c.mu.Unlock()
	c.changed()
	return nil
}

// Close returns at once. What the guest wrote is still sent, within
// CloseTimeout; then the connection is closed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return syscall.EBADF
	}
	c.closed = true
	c.in.reset()
	// The deadline bounds the writer's flush and the reader's wait for the
	// peer's end; both goroutines then return.
	c.raw.SetDeadline(time.Now().Add(c.closeTimeout))
	c.canRead.Signal()
	c.canWrite.Signal()
	c.mu.Unlock()
	c.changed()
	return nil
}

// abort closes c without flushing: for connections never handed to the
// guest.
func (c *Conn) abort() {
	c.Close()
	c.raw.Close()
}
