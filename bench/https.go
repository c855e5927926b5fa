package main

// The HTTPS section: examples/https-go served from a keep (TLS 1.3 by the
// keep with its certificate, plain HTTP for the guest) against the same
// source built natively, which does TLS 1.3 itself with crypto/tls. Both
// run as processes of their own on loopback; the load generator is this
// process.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"donjon.dev/internal/testguest"
)

const (
	httpsGuest = "examples/https-go"
	// httpsHello is https-go's answer to GET /hello.
	httpsHello = "hello from a donjon keep\n"
	// httpsBulkBytes is the size of the throughput measure's answers.
	httpsBulkBytes = 16 << 20
	// httpsBlockSize is the block of a–z that https-go repeats in its
	// /bytes answers.
	httpsBlockSize = 64 << 10
	// httpsRequestTimeout bounds a connection's handshake and each
	// request: a server that stops answering fails the section instead of
	// holding it.
	httpsRequestTimeout = 30 * time.Second
	// httpsStopTimeout is how long a server has to exit after SIGINT
	// before its process group is killed.
	httpsStopTimeout = 30 * time.Second
)

// The measures, as the report's first column names them.
const (
	measureKeepAlive = "keep-alive GET /hello"
	measureNewConn   = "new connection per GET /hello"
	measureBulk      = "keep-alive GET 16 MiB"
)

// expectedBody is what an answer must hold: size bytes, period repeated.
type expectedBody struct {
	size   int64
	period []byte
}

func helloBody() expectedBody {
	return expectedBody{size: int64(len(httpsHello)), period: []byte(httpsHello)}
}

// bytesBody is https-go's answer to /bytes?n=size: a 64 KiB block of
// a, b, ... z, a, b, ... repeated.
func bytesBody(size int64) expectedBody {
	block := make([]byte, httpsBlockSize)
	for i := range block {
		block[i] = 'a' + byte(i%26)
	}
	return expectedBody{size: size, period: block}
}

// matches says whether p holds what the body has from offset off on.
func (b expectedBody) matches(off int64, p []byte) bool {
	for len(p) > 0 {
		i := int(off % int64(len(b.period)))
		n := min(len(p), len(b.period)-i)
		if !bytes.Equal(p[:n], b.period[i:i+n]) {
			return false
		}
		p, off = p[n:], off+int64(n)
	}
	return true
}

// httpsRequest is a request as the load generator sends it, and the body
// its answer must have.
type httpsRequest struct {
	path string
	wire []byte
	want expectedBody
}

func newHTTPSRequest(path string, want expectedBody, closeAfter bool) httpsRequest {
	conn := ""
	if closeAfter {
		conn = "Connection: close\r\n"
	}
	wire := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: donjon-bench\r\n" + conn + "\r\n"
	return httpsRequest{path: path, wire: []byte(wire), want: want}
}

// clientTLS is the load generator's TLS configuration, the same for both
// servers. Neither server's certificate can be checked without setup (the
// keep's is self-signed when no steward is configured, the native one is
// made up by the bench), so the client does not check who answers. The
// handshake is a full one all the same: the client still verifies the
// server's CertificateVerify signature with the certificate's key. There
// is no session cache, so every new connection is a full handshake.
func clientTLS() *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"http/1.1"},
		ServerName:         "localhost",
	}
}

// httpsConn is one TLS connection of the load generator. HTTP/1.1 is
// written out by hand over it, without net/http's goroutines and header
// maps, so that the client spends as little CPU per request as it can.
type httpsConn struct {
	raw net.Conn
	tc  *tls.Conn
}

// dialHTTPS connects to addr and completes a TLS 1.3 handshake.
func dialHTTPS(ctx context.Context, addr string, cfg *tls.Config) (*httpsConn, error) {
	ctx, cancel := context.WithTimeout(ctx, httpsRequestTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		tc.Close()
		return nil, fmt.Errorf("%s negotiated %s, want TLS 1.3", addr, tls.VersionName(v))
	}
	return &httpsConn{raw: raw, tc: tc}, nil
}

// readResponse reads one HTTP/1.1 answer and checks it: status 200, a
// Content-Length of want.size and a body equal to want, read through buf.
// It reports whether the server announced that it closes the connection.
func readResponse(br *bufio.Reader, want expectedBody, buf []byte) (closing bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, fmt.Errorf("reading the status line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return false, fmt.Errorf("answered %q, want HTTP/1.1 200", clip(string(line), 200))
	}
	length := int64(-1)
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return false, fmt.Errorf("reading the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, fmt.Errorf("malformed header line %q", clip(string(line), 200))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return false, fmt.Errorf("malformed Content-Length %q", clip(string(value), 100))
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return false, fmt.Errorf("the answer has Transfer-Encoding %q; the bench reads only answers with a Content-Length", clip(string(value), 100))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	if length < 0 {
		return closing, errors.New("the answer has no Content-Length")
	}
	if length != want.size {
		return closing, fmt.Errorf("the answer has %d bytes, want %d", length, want.size)
	}
	for off := int64(0); off < length; {
		p := buf[:min(int64(len(buf)), length-off)]
		if _, err := io.ReadFull(br, p); err != nil {
			return closing, fmt.Errorf("reading the body at byte %d of %d: %w", off, length, err)
		}
		if !want.matches(off, p) {
			return closing, fmt.Errorf("the body differs from what was asked for between bytes %d and %d", off, off+int64(len(p)))
		}
		off += int64(len(p))
	}
	return closing, nil
}

// httpsWorker is one of the load generator's concurrent clients: over one
// keep-alive connection, or with a new connection for every request.
type httpsWorker struct {
	addr string
	cfg  *tls.Config
	req  httpsRequest
	conn *httpsConn // keep-alive: the connection every request goes over; nil otherwise
	br   *bufio.Reader
	buf  []byte
}

func newHTTPSWorker(addr string, req httpsRequest) *httpsWorker {
	return &httpsWorker{
		addr: addr, cfg: clientTLS(), req: req,
		br:  bufio.NewReaderSize(nil, 16<<10),
		buf: make([]byte, min(req.want.size, 64<<10)),
	}
}

// keepAlive opens the connection all the worker's requests will use.
func (w *httpsWorker) keepAlive(ctx context.Context) error {
	c, err := dialHTTPS(ctx, w.addr, w.cfg)
	if err != nil {
		return err
	}
	w.conn = c
	w.br.Reset(c.tc)
	return nil
}

// abort unblocks a keep-alive worker stuck in a read: the load stops.
func (w *httpsWorker) abort() {
	if w.conn != nil {
		w.conn.raw.Close()
	}
}

func (w *httpsWorker) close() {
	if w.conn != nil {
		w.conn.tc.Close()
	}
}

// request makes one request and checks its answer. Its latency runs from
// sending the request, or from connecting when every request has its own
// connection, to having read and checked the whole answer.
func (w *httpsWorker) request(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	c := w.conn
	if c == nil {
		var err error
		if c, err = dialHTTPS(ctx, w.addr, w.cfg); err != nil {
			return 0, err
		}
		defer c.tc.Close()
		stop := context.AfterFunc(ctx, func() { c.raw.Close() })
		defer stop()
		w.br.Reset(c.tc)
	}
	if err := c.raw.SetDeadline(time.Now().Add(httpsRequestTimeout)); err != nil {
		return 0, err
	}
	if _, err := c.tc.Write(w.req.wire); err != nil {
		return 0, fmt.Errorf("GET %s: sending the request: %w", w.req.path, err)
	}
	closing, err := readResponse(w.br, w.req.want, w.buf)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", w.req.path, err)
	}
	if closing && w.conn != nil {
		return 0, fmt.Errorf("GET %s: the server closes a keep-alive connection", w.req.path)
	}
	return took, nil
}

// loadRun is what loading one server with one measure for a while gave.
type loadRun struct {
	latencies []time.Duration // every request's
	bytes     int64           // body bytes received and checked
	wall      time.Duration   // from the first request to the end of the last
	clientCPU time.Duration   // the load generator's: this process's CPU time during the run
	serverCPU time.Duration   // the server's processes' CPU time during the run
}

func (r loadRun) requests() int { return len(r.latencies) }

// runHTTPSLoad loads addr with req from conns concurrent clients, each
// starting requests one after the other until d has passed, and checks
// every answer. serverCPU reads the server's CPU time so far. The first
// error stops the run.
func runHTTPSLoad(ctx context.Context, addr string, serverCPU func() (time.Duration, error), req httpsRequest, conns int, keepAlive bool, d time.Duration) (loadRun, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := make([]*httpsWorker, 0, conns)
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for range conns {
		w := newHTTPSWorker(addr, req)
		if keepAlive {
			if err := w.keepAlive(ctx); err != nil {
				return loadRun{}, err
			}
		}
		workers = append(workers, w)
	}
	// A failed worker cancels ctx; the others may be waiting for an answer.
	stop := context.AfterFunc(ctx, func() {
		for _, w := range workers {
			w.abort()
		}
	})
	defer stop()

	latencies := make([][]time.Duration, conns)
	clientBefore, err := processCPU()
	if err != nil {
		return loadRun{}, err
	}
	serverBefore, err := serverCPU()
	if err != nil {
		return loadRun{}, err
	}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				took, err := w.request(ctx)
				if err != nil {
					cancel(fmt.Errorf("client %d, request %d: %w", i+1, len(latencies[i])+1, err))
					return
				}
				latencies[i] = append(latencies[i], took)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return loadRun{}, err
	}
	clientAfter, err := processCPU()
	if err != nil {
		return loadRun{}, err
	}
	serverAfter, err := serverCPU()
	if err != nil {
		return loadRun{}, err
	}
	r := loadRun{wall: wall, clientCPU: clientAfter - clientBefore, serverCPU: serverAfter - serverBefore}
	for _, l := range latencies {
		r.latencies = append(r.latencies, l...)
	}
	r.bytes = int64(len(r.latencies)) * req.want.size
	if len(r.latencies) == 0 || wall <= 0 {
		return loadRun{}, fmt.Errorf("no request completed in %v", wall)
	}
	return r, nil
}

// clockTick is the unit of CPU times in /proc: USER_HZ, 100 a second on
// Linux for amd64 and arm64.
const clockTick = 10 * time.Millisecond

// treeCPU is the CPU time, user and system, that process pid and its
// descendants have used so far. A keep is two processes (`donjon run` and
// the keep it starts), so its cost is the sum.
func treeCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after it. utime and stime are fields 14 and 15, the 12th and 13th
	// after the name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("CPU time of process %d: cannot read /proc/%d/stat", pid, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("CPU time of process %d: cannot read /proc/%d/stat", pid, pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("CPU time of process %d: cannot read /proc/%d/stat", pid, pid)
	}
	total := time.Duration(utime+stime) * clockTick
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	for _, t := range tasks {
		children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue // the thread has ended
		}
		for _, c := range strings.Fields(string(children)) {
			child, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			if cpu, err := treeCPU(child); err == nil { // else the child has ended
				total += cpu
			}
		}
	}
	return total, nil
}

// tailBuffer keeps the end of a process's output, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const maxTail = 4000

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > maxTail {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-maxTail:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// httpsServer is one of the two servers, running in the background.
type httpsServer struct {
	name    string // "keep" or "native"
	addr    string
	cmd     *exec.Cmd
	output  *tailBuffer
	done    chan struct{} // closed once the process has exited
	waitErr error         // the process's exit, once done is closed

	cert  *x509.Certificate // the certificate it presents
	curve tls.CurveID       // the key exchange it agreed on with the load generator
}

// startHTTPSServer runs argv, which must serve HTTPS on addr, and waits
// until it answers GET /hello (a keep compiles its module first), for at
// most timeout.
func startHTTPSServer(ctx context.Context, name string, argv, env []string, addr string, timeout time.Duration) (*httpsServer, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own, so that stop can kill all of it (the
	// keep's child process too) if SIGINT is not enough.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("https bench: start the %s server: %w", name, err)
	}
	s := &httpsServer{name: name, addr: addr, cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx, timeout); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *httpsServer) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("https bench: the %s server exited before serving (%v); its output: %s", s.name, s.waitErr, clip(s.output.String(), maxStderr))
		default:
		}
		err := s.probe(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("https bench: waiting for the %s server: %w", s.name, ctx.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("https bench: the %s server does not answer on %s after %v: %w; its output: %s", s.name, s.addr, timeout, err, clip(s.output.String(), maxStderr))
		}
		select {
		case <-ctx.Done():
		case <-s.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe makes one GET /hello, and notes the server's certificate and the
// key exchange.
func (s *httpsServer) probe(ctx context.Context) error {
	w := newHTTPSWorker(s.addr, newHTTPSRequest("/hello", helloBody(), false))
	if err := w.keepAlive(ctx); err != nil {
		return err
	}
	defer w.close()
	stop := context.AfterFunc(ctx, w.abort)
	defer stop()
	if _, err := w.request(ctx); err != nil {
		return err
	}
	st := w.conn.tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return errors.New("the server presented no certificate")
	}
	s.cert, s.curve = st.PeerCertificates[0], st.CurveID
	return nil
}

// cpu is the CPU time the server's processes have used so far.
func (s *httpsServer) cpu() (time.Duration, error) {
	select {
	case <-s.done:
		return 0, fmt.Errorf("the %s server has exited", s.name)
	default:
	}
	return treeCPU(s.cmd.Process.Pid)
}

// exited says, for an error message, whether and how the server ended.
func (s *httpsServer) exited() string {
	select {
	case <-s.done:
		return fmt.Sprintf("; the %s server has exited (%v), its output: %s", s.name, s.waitErr, clip(s.output.String(), maxStderr))
	default:
		return ""
	}
}

// stop interrupts the server as Ctrl-C does and waits for it; a server
// that does not stop in time is killed with its whole process group.
func (s *httpsServer) stop() error {
	var err error
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(httpsStopTimeout):
			err = fmt.Errorf("https bench: the %s server did not stop within %v of SIGINT; killed it. Its output: %s", s.name, httpsStopTimeout, clip(s.output.String(), maxStderr))
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	// Nothing of the group may outlive its leader (ESRCH when all is gone).
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	return err
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago: the keep's port is in its configuration, so it cannot be :0.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("https bench: find a free port on loopback: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// httpsKeepConfig is the keep's Donjon.toml: the standard streams, and
// https-go's listen socket on loopback (TLS by the keep, the default).
func httpsKeepConfig(port string) string {
	return fmt.Sprintf(`[[files]]
kind = "stdin"
[[files]]
kind = "stdout"
[[files]]
kind = "stderr"
[[files]]
name = "https"
kind = "listen"
addr = "127.0.0.1"
port = %s
`, port)
}

// writeBaselineCert writes into dir a self-signed certificate for the
// native server and its key, as PEM. The key is of the same type and size
// as the one in like (the keep's certificate), so that both servers do
// the same signature in a handshake.
func writeBaselineCert(dir string, like *x509.Certificate) (certFile, keyFile string, err error) {
	var key any
	switch pub := like.PublicKey.(type) {
	case *ecdsa.PublicKey:
		key, err = ecdsa.GenerateKey(pub.Curve, rand.Reader)
	case ed25519.PublicKey:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case *rsa.PublicKey:
		key, err = rsa.GenerateKey(rand.Reader, pub.N.BitLen())
	default:
		return "", "", fmt.Errorf("https bench: the keep's certificate has a %T key, which the bench cannot match for the native server", like.PublicKey)
	}
	if err != nil {
		return "", "", fmt.Errorf("https bench: the native server's key: %w", err)
	}
	signer := key.(crypto.Signer)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return "", "", fmt.Errorf("https bench: certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "donjon bench: native https-go"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), key)
	if err != nil {
		return "", "", fmt.Errorf("https bench: the native server's certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("https bench: the native server's key: %w", err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", fmt.Errorf("https bench: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return "", "", fmt.Errorf("https bench: %w", err)
	}
	return certFile, keyFile, nil
}

// httpsMeasure is one of the three measures, and what it gave on each
// server, run by run.
type httpsMeasure struct {
	name      string
	conns     int
	keepAlive bool
	req       httpsRequest
	native    []loadRun
	keep      []loadRun
}

func (m *httpsMeasure) load(ctx context.Context, s *httpsServer, d time.Duration) (loadRun, error) {
	return runHTTPSLoad(ctx, s.addr, s.cpu, m.req, m.conns, m.keepAlive, d)
}

// httpsMeasures are the section's measures with conns concurrent clients.
// Throughput is one stream: what one client downloading gets.
func httpsMeasures(conns int) []*httpsMeasure {
	hello := helloBody()
	return []*httpsMeasure{
		{name: measureKeepAlive, conns: conns, keepAlive: true, req: newHTTPSRequest("/hello", hello, false)},
		{name: measureNewConn, conns: conns, req: newHTTPSRequest("/hello", hello, true)},
		{name: measureBulk, conns: 1, keepAlive: true, req: newHTTPSRequest(fmt.Sprintf("/bytes?n=%d", httpsBulkBytes), bytesBody(httpsBulkBytes), false)},
	}
}

type httpsResults struct {
	measures     []*httpsMeasure
	runs         int
	dur          time.Duration
	conns        int
	keep, native serverInfo
	checked      int // answers checked, warm-up included
}

// serverInfo is what the report says of a server's TLS.
type serverInfo struct {
	key       string // the certificate's key
	certBytes int
	curve     tls.CurveID
}

func describeServer(s *httpsServer) serverInfo {
	key := fmt.Sprintf("%T", s.cert.PublicKey)
	if pub, ok := s.cert.PublicKey.(*ecdsa.PublicKey); ok {
		key = "ECDSA " + pub.Curve.Params().Name
	}
	return serverInfo{key: key, certBytes: len(s.cert.Raw), curve: s.curve}
}

// runHTTPS builds https-go for wasm and natively, serves it from a keep
// and natively, and loads both in turn, run by run.
func runHTTPS(ctx context.Context, o options, guestDir, work string) (res *httpsResults, err error) {
	o.Log.Info("https: building "+httpsGuest+", wasm and native", "dir", guestDir)
	wasm, err := testguest.BuildTo(ctx, httpsGuest, guestDir)
	if err != nil {
		return nil, fmt.Errorf("https bench: build %s for wasm: %w", httpsGuest, err)
	}
	native, err := testguest.BuildNativeTo(ctx, httpsGuest, guestDir)
	if err != nil {
		return nil, fmt.Errorf("https bench: build %s natively: %w", httpsGuest, err)
	}
	dir, err := os.MkdirTemp(work, "https-")
	if err != nil {
		return nil, fmt.Errorf("https bench: %w", err)
	}
	defer os.RemoveAll(dir)

	cacheDir := filepath.Join(work, "cache")
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("https bench: %w", err)
	}

	// The keep first: its certificate decides the native server's key.
	keepAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(keepAddr)
	cfg := filepath.Join(dir, "Donjon.toml")
	if err := os.WriteFile(cfg, []byte(httpsKeepConfig(port)), 0o644); err != nil {
		return nil, fmt.Errorf("https bench: %w", err)
	}
	o.Log.Info("https: starting the keep (it compiles the module first)", "addr", keepAddr)
	keep, err := startHTTPSServer(ctx, "keep",
		[]string{o.Donjon, "run", "--backend", "nil", "--cache-dir", cacheDir, "--config", cfg, wasm},
		nil, keepAddr, o.RunTimeout)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := keep.stop(); err == nil && serr != nil {
			res, err = nil, serr
		}
	}()
	certFile, keyFile, err := writeBaselineCert(dir, keep.cert)
	if err != nil {
		return nil, err
	}
	nativeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	nat, err := startHTTPSServer(ctx, "native", []string{native, "-addr", nativeAddr, "-cert", certFile, "-key", keyFile}, keepEnv(), nativeAddr, o.RunTimeout)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := nat.stop(); err == nil && serr != nil {
			res, err = nil, serr
		}
	}()

	res = &httpsResults{measures: httpsMeasures(o.HTTPSConns), runs: o.HTTPSRuns, dur: o.HTTPSTime, conns: o.HTTPSConns,
		keep: describeServer(keep), native: describeServer(nat)}
	if err := res.measure(ctx, o, keep, nat); err != nil {
		return nil, err
	}
	return res, nil
}

// measure warms both servers up, then runs the measures: in each run,
// each measure loads both servers back to back, the first one alternating
// from run to run.
func (r *httpsResults) measure(ctx context.Context, o options, keep, native *httpsServer) error {
	warm := min(o.HTTPSTime/5, 500*time.Millisecond)
	for _, m := range r.measures {
		for _, s := range []*httpsServer{native, keep} {
			lr, err := m.load(ctx, s, warm)
			if err != nil {
				return fmt.Errorf("https bench: %s, %s server, warm-up: %w%s", m.name, s.name, err, s.exited())
			}
			r.checked += lr.requests()
		}
	}
	for run := range r.runs {
		order := []*httpsServer{native, keep}
		if run%2 == 1 {
			order = []*httpsServer{keep, native}
		}
		for _, m := range r.measures {
			for _, s := range order {
				o.Log.Info("https", "run", fmt.Sprintf("%d/%d", run+1, r.runs), "measure", m.name, "server", s.name)
				lr, err := m.load(ctx, s, o.HTTPSTime)
				if err != nil {
					return fmt.Errorf("https bench: %s, %s server, run %d: %w%s", m.name, s.name, run+1, err, s.exited())
				}
				r.checked += lr.requests()
				if s == keep {
					m.keep = append(m.keep, lr)
				} else {
					m.native = append(m.native, lr)
				}
			}
		}
	}
	return nil
}

// httpsMetric is one row of the table: a figure of a run.
type httpsMetric struct {
	name    string
	value   func(loadRun) float64
	cell    func(float64) string
	noRatio bool // the ratio would mean nothing: the load generator's share
}

func (m *httpsMeasure) metrics() []httpsMetric {
	perSecond := func(r loadRun) float64 { return float64(r.requests()) / r.wall.Seconds() }
	rate := httpsMetric{name: "requests/s", value: perSecond, cell: rateCell}
	cpuPer := httpsMetric{name: "server CPU µs/request", value: func(r loadRun) float64 {
		return float64(r.serverCPU) / float64(time.Microsecond) / float64(r.requests())
	}, cell: rateCell}
	switch m.name {
	case measureNewConn:
		rate.name = "connections/s"
		cpuPer.name = "server CPU µs/connection"
	case measureBulk:
		rate = httpsMetric{name: "MB/s", value: func(r loadRun) float64 { return float64(r.bytes) / 1e6 / r.wall.Seconds() }, cell: rateCell}
		cpuPer = httpsMetric{name: "server CPU ms/MB", value: func(r loadRun) float64 {
			return float64(r.serverCPU) / float64(time.Millisecond) / (float64(r.bytes) / 1e6)
		}, cell: func(v float64) string { return fmt.Sprintf("%.2f", v) }}
	}
	ms := func(p float64) func(loadRun) float64 {
		return func(r loadRun) float64 { return float64(percentile(r.latencies, p)) / float64(time.Millisecond) }
	}
	cores := func(d func(loadRun) time.Duration) func(loadRun) float64 {
		return func(r loadRun) float64 { return d(r).Seconds() / r.wall.Seconds() }
	}
	coresCell := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	return []httpsMetric{
		rate,
		{name: "p50 ms", value: ms(50), cell: msFloatCell},
		{name: "p99 ms", value: ms(99), cell: msFloatCell},
		cpuPer,
		{name: "server CPU, cores", value: cores(func(r loadRun) time.Duration { return r.serverCPU }), cell: coresCell},
		{name: "load generator CPU, cores", value: cores(func(r loadRun) time.Duration { return r.clientCPU }), cell: coresCell, noRatio: true},
	}
}

// msFloatCell prints milliseconds, sub-millisecond ones with three decimals.
func msFloatCell(ms float64) string {
	if ms < 1 {
		return fmt.Sprintf("%.3f", ms)
	}
	return msCell(ms)
}

func (r *httpsResults) write(w io.Writer) error {
	fmt.Fprintf(w, "\n## HTTPS: %s in a keep against the same server built natively\n\n", httpsGuest)
	fmt.Fprintf(w, `Both on 127.0.0.1, TLS 1.3 and HTTP/1.1: the keep's TLS is donjon's (the guest sees plain HTTP), the
native server's is its own crypto/tls. The load generator is this process (crypto/tls, HTTP/1.1 written
out, the certificate not checked); it shares the cores with the servers. %d run(s); in each, every measure
loads each server for %v, back to back, the first one alternating from run to run.
Clients: %d concurrent for /hello, one for the 16 MiB answers. Certificates: keep %s, %d bytes
(self-signed, with its evidence); native %s, %d bytes. Key exchange: keep %v, native %v.
native, keep: medians over the runs; keep/native: the median of the runs' ratios, spread their extremes.
CPU: the server's processes (for the keep, donjon run and its keep process) from /proc, in 10 ms ticks.

`, r.runs, r.dur, r.conns, r.keep.key, r.keep.certBytes, r.native.key, r.native.certBytes, r.keep.curve, r.native.curve)
	t := &table{header: []string{"measure", "figure", "native", "keep", "keep/native", "spread"}}
	for _, m := range r.measures {
		for _, mt := range m.metrics() {
			nat, kp := make([]float64, len(m.native)), make([]float64, len(m.keep))
			for i := range m.native {
				nat[i] = mt.value(m.native[i])
			}
			for i := range m.keep {
				kp[i] = mt.value(m.keep[i])
			}
			ratio, spread := "n/a", "n/a"
			if mt.noRatio {
				ratio, spread = "", ""
			} else if ratios, ok := ratiosOf(kp, nat); ok {
				s := summarize(ratios)
				ratio, spread = ratioCell(s.Median), spreadCell(s)
			}
			t.add(m.name, mt.name, mt.cell(summarize(nat).Median), mt.cell(summarize(kp).Median), ratio, spread)
		}
	}
	if err := t.write(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nEvery answer was checked: %d answers (warm-up included), each 200 with the expected length and bytes; no errors.\n", r.checked)
	return err
}

// ratiosOf divides each subject by the baseline of the same run; false if
// a baseline is zero (a CPU time under one tick) or the counts differ.
func ratiosOf(subject, baseline []float64) ([]float64, bool) {
	if len(subject) != len(baseline) || len(subject) == 0 {
		return nil, false
	}
	out := make([]float64, len(subject))
	for i := range subject {
		if baseline[i] <= 0 {
			return nil, false
		}
		out[i] = subject[i] / baseline[i]
	}
	return out, true
}
