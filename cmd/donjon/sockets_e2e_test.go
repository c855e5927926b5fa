package main

// End-to-end sockets: keeps run by the donjon binary serve and dial TLS with
// their attested certificates, on loopback, with a real steward. The guests
// are the examples (https-go, echo-c, client-go); the clients are Go's
// crypto/tls and net/http, curl, and other keeps.

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"donjon.dev/internal/testguest"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runningKeep is a `donjon run` in the background.
type runningKeep struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
	addr           string // 127.0.0.1:port of its listen socket
	wasm, config   string
}

// startKeep runs wasm with config (its text) in a keep on the nil backend
// and waits until its listen socket, on port, answers TLS.
func startKeep(t *testing.T, wasm, configText string, port int, args ...string) *runningKeep {
	t.Helper()
	cfg := writeTemp(t, "Donjon.toml", []byte(configText))
	k := &runningKeep{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), wasm: wasm, config: cfg,
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	k.cmd = exec.Command(donjonBin, append(append([]string{"run", "--backend", "nil", "--config", cfg}, args...), wasm)...)
	k.cmd.Env = []string{"HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + cacheHome(t)}
	k.cmd.Stdout, k.cmd.Stderr = k.stdout, k.stderr
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := k.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			k.code = ee.ExitCode()
		}
		close(k.done)
	}()
	t.Cleanup(func() { k.stop(t) })
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-k.done:
			t.Fatalf("keep exited with %d before serving:\n%s", k.code, k.stderr)
		default:
		}
		c, err := tls.Dial("tcp", k.addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return k
		}
		if time.Now().After(deadline) {
			t.Fatalf("keep not serving on %s: %v\n%s", k.addr, err, k.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop interrupts the keep as Ctrl-C does and waits for it.
func (k *runningKeep) stop(t *testing.T) {
	select {
	case <-k.done:
		return
	default:
	}
	k.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		k.cmd.Process.Kill()
		<-k.done
		t.Errorf("keep did not stop on SIGINT:\n%s", k.stderr)
	}
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func caPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return pool
}

// httpsClient trusts only roots and keeps up to conns connections alive.
func httpsClient(roots *x509.CertPool, conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots},
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
		},
	}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// devPolicy accepts the nil backend and grants the loopback names. Its
// [workload] table comes last, so that tests can append to it.
const devPolicy = `platforms = ["nil", "snp", "tdx"]
[certificate]
names = ["localhost", "127.0.0.1"]
[workload]
any_module = true
`

func httpsConfig(port int, steward string, extra ...string) string {
	lines := []string{}
	if steward != "" {
		lines = append(lines, fmt.Sprintf("steward = %q", steward))
	}
	lines = append(lines,
		`[[files]]`, `kind = "stdin"`, `[[files]]`, `kind = "stdout"`, `[[files]]`, `kind = "stderr"`,
		`[[files]]`, `name = "https"`, `kind = "listen"`, `addr = "127.0.0.1"`, fmt.Sprintf("port = %d", port))
	lines = append(lines, extra...)
	lines = append(lines, `[tls]`, `names = ["localhost", "127.0.0.1"]`)
	return strings.Join(lines, "\n") + "\n"
}

// TestHTTPSKeep is the mission on loopback: a steward certifies a keep
// serving the Go HTTPS example; `donjon verify` checks it; clients that
// trust only the steward's CA fetch pages; everything else is refused.
func TestHTTPSKeep(t *testing.T) {
	st := startSteward(t, devPolicy, nil, nil)
	wasm := testguest.Build(t, "examples/https-go")
	port := freePort(t)
	k := startKeep(t, wasm, httpsConfig(port, st.url), port)
	roots := caPool(t, st.caFile)
	base := fmt.Sprintf("https://localhost:%d", port)

	t.Run("verify", func(t *testing.T) {
		r := donjon(t, "", nil, "verify", "--ca", st.caFile, "--allow-insecure", "-o", "json", fmt.Sprintf("localhost:%d", port))
		c := verifiedJSON(t, r)
		if c.ModuleDigest != fileDigest(t, wasm) || c.ConfigDigest != fileDigest(t, k.config) || !c.Insecure || c.Platform != "nil" {
			t.Errorf("verified claims %+v: want the keep's module and config digests, nil backend", c)
		}
		if r := donjon(t, "", nil, "verify", "--ca", st.caFile, fmt.Sprintf("localhost:%d", port)); r.code == 0 || !strings.Contains(r.stderr, "insecure") {
			t.Errorf("verify without --allow-insecure accepted a nil keep: %v", r)
		}
	})

	t.Run("https client trusting the steward CA", func(t *testing.T) {
		body, err := get(httpsClient(roots, 1), base+"/hello")
		if err != nil || body != "hello from a donjon keep\n" {
			t.Fatalf("GET /hello: %q, %v", body, err)
		}
		if _, err := get(httpsClient(roots, 1), fmt.Sprintf("https://127.0.0.1:%d/hello", port)); err != nil {
			t.Errorf("by IP address: %v", err)
		}
	})

	t.Run("curl trusting only the steward CA", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Fatal("curl is not installed: scripts/deps.sh installs it")
		}
		out, err := exec.Command(curl, "--silent", "--show-error", "--fail", "--cacert", st.caFile, base+"/hello").CombinedOutput()
		if err != nil || string(out) != "hello from a donjon keep\n" {
			t.Errorf("curl --cacert: %q, %v", out, err)
		}
		out, err = exec.Command(curl, "--silent", "--show-error", "--fail", "--capath", t.TempDir(), "--cacert", writeTemp(t, "other.pem", otherCA(t)), base+"/hello").CombinedOutput()
		if err == nil {
			t.Errorf("curl trusting another CA fetched the page: %q", out)
		}
	})

	t.Run("wrong CA refused", func(t *testing.T) {
		other := x509.NewCertPool()
		other.AppendCertsFromPEM(otherCA(t))
		_, err := get(httpsClient(other, 1), base+"/hello")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("client trusting another CA: %v, want an unknown authority error", err)
		}
	})

	t.Run("plaintext and old TLS refused, the keep keeps serving", func(t *testing.T) {
		c, err := net.Dial("tcp", k.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
		reply, _ := io.ReadAll(c)
		c.Close()
		if bytes.Contains(reply, []byte("hello from a donjon keep")) || bytes.HasPrefix(reply, []byte("HTTP/")) {
			t.Errorf("a plaintext client got an HTTP answer: %q", reply)
		}
		_, err = tls.Dial("tcp", k.addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
		if err == nil {
			t.Error("a TLS 1.2 client completed a handshake")
		}
		if body, err := get(httpsClient(roots, 1), base+"/hello"); err != nil || body == "" {
			t.Errorf("after refused clients: %q, %v", body, err)
		}
		if !strings.Contains(k.stderr.String(), "refused") && !strings.Contains(k.stderr.String(), "handshake") {
			t.Errorf("the keep did not log the refused handshakes:\n%s", k.stderr)
		}
	})

	t.Run("1000 requests over 50 connections", func(t *testing.T) {
		client := httpsClient(roots, 50)
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for w := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					body, err := get(client, fmt.Sprintf("%s/bytes?n=%d", base, 1000+w*20+i))
					if err == nil && len(body) != 1000+w*20+i {
						err = fmt.Errorf("got %d bytes, want %d", len(body), 1000+w*20+i)
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n == 0 {
				t.Errorf("first error: %v", err)
			}
			n++
		}
		if n > 0 {
			t.Errorf("%d of 1000 requests failed", n)
		}
	})

	t.Run("a peer that never reads does not block others", func(t *testing.T) {
		stuck, err := tls.Dial("tcp", k.addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close()
		// Ask for far more than the buffers on the way hold, and never read.
		fmt.Fprintf(stuck, "GET /bytes?n=%d HTTP/1.1\r\nHost: localhost\r\n\r\n", 256<<20)
		client := httpsClient(roots, 4)
		for i := range 20 {
			if body, err := get(client, base+"/hello"); err != nil || body != "hello from a donjon keep\n" {
				t.Fatalf("request %d while a peer does not read: %q, %v", i, body, err)
			}
		}
	})

	// The keep still serves after all of the above, and stops on Ctrl-C.
	if _, err := get(httpsClient(roots, 1), base+"/hello"); err != nil {
		t.Fatalf("keep stopped serving: %v\n%s", err, k.stderr)
	}
	k.stop(t)
	if k.code != 130 {
		t.Errorf("keep exit code after SIGINT: %d, want 130", k.code)
	}
}

// otherCA is a CA certificate unrelated to any steward.
func otherCA(t *testing.T) []byte {
	t.Helper()
	st := startSteward(t, devPolicy, nil, nil)
	b, err := os.ReadFile(st.caFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEchoKeep: the C echo server serves concurrent TLS clients of a
// self-signed keep, byte for byte.
func TestEchoKeep(t *testing.T) {
	wasm := testguest.Build(t, "examples/echo-c")
	port := freePort(t)
	cfg := strings.Join([]string{`[[files]]`, `kind = "stdin"`, `[[files]]`, `kind = "stdout"`, `[[files]]`, `kind = "stderr"`,
		`[[files]]`, `name = "echo"`, `kind = "listen"`, `addr = "127.0.0.1"`, fmt.Sprintf("port = %d", port)}, "\n") + "\n"
	k := startKeep(t, wasm, cfg, port)

	// The self-signed certificate carries the evidence: donjon verify
	// checks it without a CA.
	r := donjon(t, "", nil, "verify", "--allow-insecure", "-o", "json", k.addr)
	if c := verifiedJSON(t, r); c.ModuleDigest != fileDigest(t, wasm) {
		t.Errorf("verified module %s, want %s", c.ModuleDigest, fileDigest(t, wasm))
	}

	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.Dial("tcp", k.addr, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			data := bytes.Repeat([]byte(fmt.Sprintf("client %d says hello. ", i)), 20000) // ~400 KB
			go func() {
				c.Write(data)
				c.CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("client %d: echoed %d of %d bytes, %v", i, len(got), len(data), err)
			}
		}()
	}
	wg.Wait()
}

// clientConfig is the config of examples/client-go dialing port.
func clientConfig(port int, steward string, extra ...string) string {
	lines := []string{}
	if steward != "" {
		lines = append(lines, fmt.Sprintf("steward = %q", steward))
	}
	lines = append(lines, `[env]`, `SERVER_HOST = "localhost"`,
		`[[files]]`, `kind = "stdin"`, `[[files]]`, `kind = "stdout"`, `[[files]]`, `kind = "stderr"`,
		`[[files]]`, `name = "server"`, `kind = "connect"`, `host = "localhost"`, fmt.Sprintf("port = %d", port))
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// TestKeepToKeep: a client keep dials a server keep. Mutual TLS between
// keeps is accepted or refused by the client's workload digest.
func TestKeepToKeep(t *testing.T) {
	st := startSteward(t, devPolicy, nil, nil)
	server := testguest.Build(t, "examples/https-go")
	client := testguest.Build(t, "examples/client-go")
	clientDigest := fileDigest(t, client)

	run := func(t *testing.T, cfg string) result {
		return donjon(t, "", nil, "run", "--backend", "nil", "--config", writeTemp(t, "client.toml", []byte(cfg)), client, "/hello")
	}

	t.Run("server certified by the steward, client trusting its CA", func(t *testing.T) {
		port := freePort(t)
		startKeep(t, server, httpsConfig(port, st.url), port)
		r := run(t, clientConfig(port, st.url, `ca = "steward"`))
		if r.code != 0 || !strings.Contains(r.stdout, "hello from a donjon keep") {
			t.Fatalf("client keep: %v", r)
		}
	})

	t.Run("server not trusted", func(t *testing.T) {
		port := freePort(t)
		startKeep(t, server, httpsConfig(port, st.url), port)
		// Default CA: the host's roots, which do not know the steward.
		r := run(t, clientConfig(port, ""))
		if r.code != 125 || !strings.Contains(r.stderr, "certificate") || strings.Contains(r.stdout, "hello") {
			t.Errorf("client keep dialing an untrusted server: %v", r)
		}
	})

	t.Run("mutual TLS accepted by workload digest", func(t *testing.T) {
		port := freePort(t)
		startKeep(t, server, httpsConfig(port, st.url, `require = "keep"`, `allow_insecure = true`, fmt.Sprintf("peer_modules = [%q]", clientDigest)), port)
		r := run(t, clientConfig(port, st.url, `require = "keep"`, `allow_insecure = true`))
		if r.code != 0 || !strings.Contains(r.stdout, "hello from a donjon keep") {
			t.Fatalf("client keep with the allowed workload: %v", r)
		}
	})

	t.Run("mutual TLS refused by workload digest", func(t *testing.T) {
		port := freePort(t)
		other := fmt.Sprintf("%x", sha256.Sum256([]byte("another client")))
		k := startKeep(t, server, httpsConfig(port, st.url, `require = "keep"`, `allow_insecure = true`, fmt.Sprintf("peer_modules = [%q]", other)), port)
		r := run(t, clientConfig(port, st.url, `require = "keep"`, `allow_insecure = true`))
		if r.code == 0 || strings.Contains(r.stdout, "hello from a donjon keep") {
			t.Errorf("client keep with another workload was served: %v", r)
		}
		waitFor(t, func() bool { return strings.Contains(k.stderr.String(), "workload.modules") }, "the server keep to log the refusal:\n"+k.stderr.String())
	})

	t.Run("mutual TLS refuses a client that is no keep", func(t *testing.T) {
		port := freePort(t)
		startKeep(t, server, httpsConfig(port, st.url, `require = "keep"`, `allow_insecure = true`), port)
		_, err := get(httpsClient(caPool(t, st.caFile), 1), fmt.Sprintf("https://localhost:%d/hello", port))
		if err == nil {
			t.Error("a client without a keep certificate was served")
		}
	})

	t.Run("a nil keep is refused without allow_insecure", func(t *testing.T) {
		port := freePort(t)
		startKeep(t, server, httpsConfig(port, st.url), port)
		r := run(t, clientConfig(port, st.url, `require = "keep"`))
		if r.code != 125 || !strings.Contains(r.stderr, "insecure") {
			t.Errorf("client keep requiring a keep, server on nil: %v", r)
		}
	})
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBlockedGuestEnds: a guest blocked in sock_accept ends at its time
// limit, and a keep whose port is taken does not start.
func TestBlockedGuestEnds(t *testing.T) {
	wasm := testguest.Build(t, "examples/https-go")
	port := freePort(t)
	start := time.Now()
	r := donjon(t, "", nil, "run", "--backend", "nil", "--timeout", "3s", "--config", writeTemp(t, "Donjon.toml", []byte(httpsConfig(port, ""))), wasm)
	if r.code != 124 {
		t.Errorf("keep blocked in accept with --timeout 3s: %v", r)
	}
	t.Logf("ended after %v", time.Since(start).Round(time.Millisecond))

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r = donjon(t, "", nil, "run", "--backend", "nil", "--config", writeTemp(t, "Donjon.toml", []byte(httpsConfig(port, ""))), wasm)
	if r.code != 125 || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("keep on a taken port: %v", r)
	}
}

// TestPlaintextSocketNeedsPolicy: prot = "tcp" serves plain TCP, and the
// keep says so: a steward refuses it unless its policy allows plaintext,
// and donjon verify shows it and refuses it by default.
func TestPlaintextSocketNeedsPolicy(t *testing.T) {
	wasm := testguest.Build(t, "examples/https-go")
	port := freePort(t)
	cfg := strings.Replace(httpsConfig(port, ""), `kind = "listen"`, "kind = \"listen\"\nprot = \"tcp\"", 1)

	strict := startSteward(t, devPolicy, nil, nil)
	r := donjon(t, "", nil, "run", "--backend", "nil", "--steward", strict.url, "--config", writeTemp(t, "Donjon.toml", []byte(cfg)), wasm)
	if r.code != 125 || !strings.Contains(r.stderr, "workload.plaintext") {
		t.Fatalf("a steward without allow_plaintext certified a keep with a plain TCP socket: %v", r)
	}

	lenient := startSteward(t, devPolicy+"allow_plaintext = true\n", nil, nil)
	k := exec.Command(donjonBin, "run", "--backend", "nil", "--steward", lenient.url, "--config", writeTemp(t, "Donjon.toml", []byte(cfg)), wasm)
	k.Env = []string{"HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + cacheHome(t)}
	var stderr syncBuffer
	k.Stderr = &stderr
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { k.Process.Signal(syscall.SIGINT); k.Wait() }()
	var reply []byte
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		reply, _ = io.ReadAll(c)
		return len(reply) > 0
	}, "the plain TCP keep to answer")
	if !bytes.HasPrefix(reply, []byte("HTTP/1.1 200")) || !bytes.HasSuffix(reply, []byte("hello from a donjon keep\n")) {
		t.Errorf("plain TCP answer: %q", reply)
	}
}
