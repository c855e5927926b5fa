package tlsnet

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"donjon.dev/wasi/vfs"
)

// Options configure a Listener or a connection made by Dial.
type Options struct {
	// TLS, when set, makes the socket TLS: the server configuration of a
	// Listener, the client configuration of Dial. tlsnet works on a clone
	// that allows TLS 1.3 only, so that a peer speaking plaintext or an
	// older version is refused. nil means plain TCP.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS handshake; a peer that stalls it is
	// dropped. Default 10s.
	HandshakeTimeout time.Duration
	// BufferSize is how many bytes each connection buffers in each
	// direction. Default 64 KiB.
	BufferSize int
	// MaxPending bounds the connections of a Listener that are
	// handshaking or waiting to be accepted; beyond it new connections are
	// closed at once. Default 128.
	MaxPending int
	// CloseTimeout is how long a closed connection may keep flushing what
	// the guest wrote before it is cut. Default 30s.
	CloseTimeout time.Duration
	// Open, when set, counts the connections whose network side is still
	// open, closed ones still flushing included: a process waits on it
	// before it exits, so that what its guest wrote before closing is not
	// lost with the process.
	Open *sync.WaitGroup
	// Log receives warnings about refused connections; nil discards them.
	Log *slog.Logger
}

// Defaults of Options.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultBufferSize       = 64 << 10
	DefaultMaxPending       = 128
	DefaultCloseTimeout     = 30 * time.Second
)

// withDefaults fills in the zero (or negative) fields and clones the TLS
// configuration, pinned to TLS 1.3.
func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.TLS != nil {
		o.TLS = only13(o.TLS)
	}
	return o
}

// only13 returns a clone of cfg that negotiates TLS 1.3 and nothing else,
// including the configurations its GetConfigForClient returns.
func only13(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	if get := c.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sub, err := get(hello)
			if sub == nil || err != nil {
				return sub, err
			}
			return only13(sub), nil
		}
	}
	return c
}

// checkNetwork refuses networks other than TCP.
func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("network %q is not supported; use tcp, tcp4 or tcp6", network)
}

// notifier holds the function armed by Notify.
type notifier struct {
	mu   sync.Mutex
	wake func()
	gen  uint64 // which Notify armed wake, so that a late stop is harmless
}

// Notify arranges for wake to be called, from any goroutine, whenever
// readiness may have changed, until stop is called. A call already under
// way when stop returns may still happen.
func (n *notifier) Notify(wake func()) (stop func()) {
	n.mu.Lock()
	n.gen++
	gen := n.gen
	n.wake = wake
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		if n.gen == gen {
			n.wake = nil
		}
		n.mu.Unlock()
	}
}

// changed calls the armed function, if any. Callers hold no other lock, so
// that wake may look at the socket.
func (n *notifier) changed() {
	n.mu.Lock()
	w := n.wake
	n.mu.Unlock()
	if w != nil {
		w()
	}
}

// stream holds the File methods that mean nothing on a socket: they fail,
// with ESPIPE where an offset is involved.
type stream struct{}

func (stream) Type() vfs.FileType { return vfs.TypeSocketStream }
func (stream) Stat() (vfs.Filestat, error) {
	return vfs.Filestat{Type: vfs.TypeSocketStream, Nlink: 1}, nil
}
func (stream) SetTimes(vfs.Time, vfs.Time) error     { return syscall.ENOTSUP }
func (stream) Sync() error                           { return syscall.EINVAL }
func (stream) Datasync() error                       { return syscall.EINVAL }
func (stream) Preadv([][]byte, int64) (int, error)   { return 0, syscall.ESPIPE }
func (stream) Pwritev([][]byte, int64) (int, error)  { return 0, syscall.ESPIPE }
func (stream) Seek(int64, int) (int64, error)        { return 0, syscall.ESPIPE }
func (stream) Truncate(int64) error                  { return syscall.EINVAL }
func (stream) Allocate(int64, int64) error           { return syscall.ESPIPE }
func (stream) Advise(int64, int64, vfs.Advice) error { return syscall.ESPIPE }
func (stream) SetAppend(bool) error                  { return syscall.ENOTSUP }

// buffer is a bounded byte queue. It grows as needed up to max, so an
// idle connection holds little memory.
type buffer struct {
	b   []byte // b[off:] is queued
	off int
	max int
}

func (q *buffer) len() int      { return len(q.b) - q.off }
func (q *buffer) room() int     { return q.max - q.len() }
func (q *buffer) bytes() []byte { return q.b[q.off:] }

// push queues as much of p as fits and returns how much that was.
func (q *buffer) push(p []byte) int {
	n := min(len(p), q.room())
	if n == 0 {
		return 0
	}
	if len(q.b)+n > cap(q.b) {
		if q.off > 0 {
			k := copy(q.b, q.b[q.off:])
			q.b, q.off = q.b[:k], 0
		}
		if len(q.b)+n > cap(q.b) {
			// Grow by hand: append could overshoot max.
			b := make([]byte, len(q.b), min(max(2*cap(q.b), len(q.b)+n, 4<<10), q.max))
			copy(b, q.b)
			q.b = b
		}
	}
	q.b = append(q.b, p[:n]...)
	return n
}

// pop drops the first n queued bytes.
func (q *buffer) pop(n int) {
	q.off += n
	if q.off == len(q.b) {
		q.reset()
	}
}

func (q *buffer) reset() { q.b, q.off = q.b[:0], 0 }

// copyOut copies the queued bytes into iovs, in order, and returns how
// many it copied.
func (q *buffer) copyOut(iovs [][]byte) int {
	data := q.bytes()
	n := 0
	for _, b := range iovs {
		if n == len(data) {
			break
		}
		n += copy(b, data[n:])
	}
	return n
}
