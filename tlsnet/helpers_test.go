package tlsnet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"donjon.dev/wasi/vfs"
)

// patience bounds every wait of a test, so that a bug fails instead of
// hanging. It is never the thing asserted.
const patience = 10 * time.Second

// newCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1 and a
// pool that trusts it.
func newCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsnet test keep"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// server is a Listener on loopback with its log and, for TLS, a pool
// trusting its certificate.
type server struct {
	*Listener
	pool *x509.CertPool
	logs *syncBuffer
}

// listenTLS listens with a fresh certificate; opts may set anything else.
func listenTLS(t *testing.T, opts Options) *server {
	t.Helper()
	cert, pool := newCert(t)
	opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s := listen(t, opts)
	s.pool = pool
	return s
}

func listen(t *testing.T, opts Options) *server {
	t.Helper()
	logs := &syncBuffer{}
	opts.Log = slog.New(slog.NewTextHandler(logs, nil))
	l, err := Listen(context.Background(), "tcp", "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &server{Listener: l, logs: logs}
}

func (s *server) addr() string { return s.Addr().String() }

// clientConfig trusts the server, TLS 1.3 as a keep's clients would.
func (s *server) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS13}
}

// dial is a remote TLS client of s.
func (s *server) dial(t *testing.T) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: patience}, "tcp", s.addr(), s.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * patience))
	t.Cleanup(func() { c.Close() })
	return c
}

// dialRaw is a remote TCP client of s.
func (s *server) dialRaw(t *testing.T) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr(), patience)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * patience))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// waitLog waits until the log holds want.
func (s *server) waitLog(t *testing.T, want string) {
	t.Helper()
	waitFor(t, "log line "+want, func() bool { return strings.Contains(s.logs.String(), want) })
}

// pendingCount is the Listener's count of handshaking and queued
// connections.
func (s *server) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// waitFor polls cond, for state that has no notification.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waker is a wake function for Notify that never blocks, and the channel
// it signals.
type waker chan struct{}

func newWaker() waker { return make(waker, 1) }

func (w waker) wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// wait waits for a wake-up; false after d without one.
func (w waker) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w:
		return true
	case <-t.C:
		return false
	}
}

// await runs op until it stops failing with EAGAIN, waiting for n's
// notifications in between, as package wasi does for a blocking call: the
// notification is armed before op is tried, so none is lost.
func await(t *testing.T, n vfs.Notifier, op func() error) {
	t.Helper()
	w := newWaker()
	stop := n.Notify(w.wake)
	defer stop()
	for {
		err := op()
		if !errors.Is(err, syscall.EAGAIN) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if !w.wait(patience) {
			t.Fatalf("no notification within %v", patience)
		}
	}
}

// accept is a guest's blocking accept.
func accept(t *testing.T, l *Listener) *Conn {
	t.Helper()
	var c *Conn
	await(t, l, func() error {
		s, err := l.Accept()
		if err == nil {
			c = s.(*Conn)
		}
		return err
	})
	return c
}

// recvFull is a guest's blocking read of exactly n bytes.
func recvFull(t *testing.T, c *Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	got := 0
	for got < n {
		var k int
		await(t, c, func() (err error) {
			k, err = c.Recv([][]byte{buf[got:]}, false)
			return err
		})
		if k == 0 {
			t.Fatalf("end of stream after %d of %d bytes", got, n)
		}
		got += k
	}
	return buf
}

// recvEOF is a guest's blocking read that expects the end of the stream.
func recvEOF(t *testing.T, c *Conn) {
	t.Helper()
	var k int
	buf := make([]byte, 64)
	await(t, c, func() (err error) {
		k, err = c.Recv([][]byte{buf}, false)
		return err
	})
	if k != 0 {
		t.Fatalf("want end of stream, got %q", buf[:k])
	}
}

// sendAll is a guest's blocking write of all of data.
func sendAll(t *testing.T, c *Conn, data []byte) {
	t.Helper()
	for len(data) > 0 {
		var k int
		await(t, c, func() (err error) {
			k, err = c.Send([][]byte{data})
			return err
		})
		data = data[k:]
	}
}

// pattern is n bytes of a sequence that reveals loss, duplication and
// reordering, starting at offset off of the stream.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}
