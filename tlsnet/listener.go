package tlsnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"donjon.dev/wasi/vfs"
)

var (
	_ vfs.Socket   = (*Listener)(nil)
	_ vfs.Notifier = (*Listener)(nil)
)

// Listener is a listening socket. Its methods never block; see the package
// documentation.
type Listener struct {
	stream
	notifier

	ln     net.Listener
	opts   Options
	log    *slog.Logger
	ctx    context.Context // ends with Close, aborting handshakes
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept and handshake goroutines

	mu      sync.Mutex
	ready   []*Conn // handshake done, not accepted yet
	pending int     // handshaking, plus len(ready)
	full    bool    // MaxPending reached and logged
	closed  bool
}

// Listen listens on address and serves connections with TLS 1.3 if
// opts.TLS is set, plain TCP otherwise. ctx bounds the setup only: the
// Listener serves until Close.
func Listen(ctx context.Context, network, address string, opts Options) (*Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, fmt.Errorf("tlsnet: listen on %s: %w", address, err)
	}
	opts = opts.withDefaults()
	if c := opts.TLS; c != nil && len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return nil, fmt.Errorf("tlsnet: listen on %s: the TLS configuration has no certificate; set Certificates or GetCertificate", address)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("tlsnet: listen on %s: %w", address, err)
	}
	l := &Listener{ln: ln, opts: opts, log: opts.Log}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr is the address the Listener listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// acceptLoop takes TCP connections and hands each to its own handshake
// goroutine, so that a slow peer delays nobody.
func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or memory, most likely: it may pass.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("tlsnet: accept failed; retrying", "addr", l.Addr().String(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-l.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		delay = 0
		if !l.admit(raw) {
			raw.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

// admit counts a new connection as pending, unless there are too many.
func (l *Listener) admit(raw net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.pending >= l.opts.MaxPending {
		if !l.full {
			l.full = true
			l.log.Warn("tlsnet: too many connections waiting to be accepted; closing new ones until the guest accepts",
				"addr", l.Addr().String(), "remote", raw.RemoteAddr().String(), "max_pending", l.opts.MaxPending)
		}
		return false
	}
	l.pending++
	return true
}

// drop forgets a pending connection.
func (l *Listener) drop() {
	l.mu.Lock()
	l.pending--
	l.full = l.full && l.pending >= l.opts.MaxPending
	l.mu.Unlock()
}

// handshake completes the TLS handshake of raw, within HandshakeTimeout,
// and queues the connection for Accept. A failure is logged, and the
// connection dropped.
func (l *Listener) handshake(raw net.Conn) {
	defer l.wg.Done()
	var tc *tls.Conn
	if l.opts.TLS != nil {
		tc = tls.Server(raw, l.opts.TLS)
		ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			if l.ctx.Err() == nil { // else closing: not the peer's fault
				if errors.Is(err, context.DeadlineExceeded) {
					err = fmt.Errorf("no handshake within %v", l.opts.HandshakeTimeout)
				}
				l.log.Warn("tlsnet: TLS handshake failed; connection dropped",
					"addr", l.Addr().String(), "remote", raw.RemoteAddr().String(), "err", err)
			}
			raw.Close()
			l.drop()
			return
		}
	}
	c := newConn(raw, tc, l.opts)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.abort()
		return
	}
	l.ready = append(l.ready, c)
	l.mu.Unlock()
	l.changed()
}

// Ready reports whether Accept (write false) would make progress now. A
// listener cannot be written to, so writes fail at once: they are ready.
func (l *Listener) Ready(write bool) bool {
	if write {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ready) > 0 || l.closed
}

// Accept returns the next connection that completed its handshake, or
// EAGAIN if there is none yet.
func (l *Listener) Accept() (vfs.Socket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, syscall.EBADF
	case len(l.ready) == 0:
		return nil, syscall.EAGAIN
	}
	c := l.ready[0]
	l.ready[0] = nil
	l.ready = l.ready[1:]
	l.pending--
	l.full = l.full && l.pending >= l.opts.MaxPending
	return c, nil
}

// Close stops accepting, closes the connections not accepted yet, and
// returns once the Listener's goroutines have ended. Accepted connections
// stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return syscall.EBADF
	}
	l.closed = true
	queued := l.ready
	l.ready = nil
	l.mu.Unlock()

	l.cancel()
	err := l.ln.Close()
	for _, c := range queued {
		c.abort()
	}
	l.wg.Wait()
	l.changed()
	if err != nil {
		return fmt.Errorf("tlsnet: close listener %s: %w", l.Addr(), err)
	}
	return nil
}

// Recv fails: a listener carries no data.
func (l *Listener) Recv([][]byte, bool) (int, error) { return 0, syscall.ENOTCONN }

// Send fails: a listener carries no data.
func (l *Listener) Send([][]byte) (int, error) { return 0, syscall.ENOTCONN }

// Readv fails: a listener carries no data.
func (l *Listener) Readv([][]byte) (int, error) { return 0, syscall.ENOTCONN }

// Writev fails: a listener carries no data.
func (l *Listener) Writev([][]byte) (int, error) { return 0, syscall.ENOTCONN }

// Shutdown fails: a listener is not connected.
func (l *Listener) Shutdown(bool, bool) error { return syscall.ENOTCONN }
