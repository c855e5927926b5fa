package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"donjon.dev/internal/testguest"
)

// checkHTTPSRows checks the HTTPS section of a report: every measure has
// its figures, positive, each with a ratio inside its spread (CPU ratios
// may be n/a when a short run's baseline used less than one tick).
func checkHTTPSRows(t *testing.T, rows map[string]map[string]string, report string) {
	t.Helper()
	for _, m := range httpsMeasures(1) {
		for _, mt := range m.metrics() {
			row, ok := rows[m.name+"/"+mt.name]
			if !ok {
				t.Errorf("no HTTPS row %q / %q in:\n%s", m.name, mt.name, report)
				continue
			}
			what := "https " + m.name + " " + mt.name
			cpu := strings.Contains(mt.name, "CPU")
			for _, col := range []string{"native", "keep"} {
				if !cpu || row[col] != "0.00" && row[col] != "0.0" {
					checkPositive(t, what+" "+col, row[col])
				}
			}
			switch {
			case mt.noRatio:
				if row["keep/native"] != "" {
					t.Errorf("%s: a ratio %q where none means anything", what, row["keep/native"])
				}
			case cpu && row["keep/native"] == "n/a":
			default:
				checkRatio(t, what, row["keep/native"], row["spread"])
			}
		}
	}
	if !strings.Contains(report, "Every answer was checked") {
		t.Errorf("the HTTPS section does not say its answers were checked:\n%s", report)
	}
}

func TestHTTPSFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.HTTPSRuns != 3 || o.HTTPSTime != defaultHTTPSTime || o.HTTPSConns != 16 || !o.runs("https") || !o.runs("compute") {
		t.Errorf("defaults gave %d runs of %v with %d connections (%v), all sections %v; want 3 of %v with 16", o.HTTPSRuns, o.HTTPSTime, o.HTTPSConns, err, o.Only, defaultHTTPSTime)
	}
	o, err = parseFlags([]string{"-quick"}, io.Discard)
	if err != nil || o.HTTPSRuns != 1 || o.HTTPSTime != quickHTTPSTime {
		t.Errorf("-quick gave %d runs of %v (%v), want 1 of %v", o.HTTPSRuns, o.HTTPSTime, err, quickHTTPSTime)
	}
	o, err = parseFlags([]string{"-only", "https,steward", "-https-time", "2s", "-https-conns", "4", "-https-runs", "5"}, io.Discard)
	if err != nil || o.runs("compute") || o.runs("startup") || !o.runs("https") || !o.runs("steward") || o.HTTPSTime != 2*time.Second || o.HTTPSConns != 4 || o.HTTPSRuns != 5 {
		t.Errorf("-only https,steward and HTTPS flags gave %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-https-runs", "-1"}, {"-https-conns", "0"}, {"-https-conns", "101"}, {"-https-time", "-1s"}, {"-only", "http"}, {"-only", "https,"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

func TestReadResponse(t *testing.T) {
	hello := helloBody()
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 25\r\n\r\n" + httpsHello
	for _, c := range []struct {
		name, answer string
		want         expectedBody
		closing      bool
		err          string // empty: no error
	}{
		{"hello", ok, hello, false, ""},
		{"two answers on one connection", ok + ok, hello, false, ""},
		{"closing", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 25\r\n\r\n" + httpsHello, hello, true, ""},
		{"bytes", "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat(string(bytesBody(httpsBlockSize).period), 4)[:200000], bytesBody(200000), false, ""},
		{"bytes off by one", "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat(string(bytesBody(httpsBlockSize).period), 2)[1:70001], bytesBody(70000), false, "differs"},
		{"status", "HTTP/1.1 404 Not Found\r\nContent-Length: 25\r\n\r\n" + httpsHello, hello, false, "want HTTP/1.1 200"},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 25\r\n\r\n" + httpsHello, hello, false, "want HTTP/1.1 200"},
		{"wrong body", strings.Replace(ok, "keep", "kept", 1), hello, false, "differs"},
		{"wrong length", "HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n" + httpsHello[:24], hello, false, "24 bytes, want 25"},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n" + httpsHello, hello, false, "no Content-Length"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", hello, false, "malformed Content-Length"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n19\r\n" + httpsHello + "\r\n0\r\n\r\n", hello, false, "Transfer-Encoding"},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\nhello", hello, false, "reading the body"},
		{"truncated headers", "HTTP/1.1 200 OK\r\nContent-Len", hello, false, "reading the headers"},
		{"malformed header", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", hello, false, "malformed header"},
		{"nothing", "", hello, false, "status line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(c.answer))
			buf := make([]byte, 1000) // smaller than the bodies: reads in pieces
			closing, err := readResponse(br, c.want, buf)
			if c.name == "two answers on one connection" && err == nil {
				closing, err = readResponse(br, c.want, buf)
			}
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("readResponse: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("readResponse gave %v, want an error saying %q", err, c.err)
			case c.err == "" && closing != c.closing:
				t.Errorf("closing = %v, want %v", closing, c.closing)
			}
		})
	}
}

// TestHTTPSLoadNative runs the section's measures briefly against the
// native https-go: each must complete requests, every answer checked,
// and stopping the server must leave no process behind.
func TestHTTPSLoadNative(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bin := testguest.BuildNative(t, httpsGuest)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := writeBaselineCert(t.TempDir(), &x509.Certificate{PublicKey: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	s, err := startHTTPSServer(ctx, "native", []string{bin, "-addr", addr, "-cert", certFile, "-key", keyFile}, keepEnv(), addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if info := describeServer(s); info.key != "ECDSA P-384" || info.certBytes == 0 || info.curve == 0 {
		t.Errorf("the server's TLS: %+v; want a P-384 certificate, as the one it was made like, and a key exchange", info)
	}

	var serverCPU time.Duration
	for _, m := range httpsMeasures(3) {
		r, err := m.load(ctx, s, 300*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if r.requests() == 0 || r.bytes != int64(r.requests())*m.req.want.size || r.wall <= 0 {
			t.Errorf("%s: %d requests, %d bytes in %v; want some, each of %d bytes", m.name, r.requests(), r.bytes, r.wall, m.req.want.size)
		}
		for i, l := range r.latencies {
			if l <= 0 || l > r.wall {
				t.Errorf("%s: request %d took %v, in a run of %v", m.name, i, l, r.wall)
				break
			}
		}
		serverCPU += r.serverCPU
	}
	if serverCPU <= 0 {
		t.Errorf("the server used no CPU over all three measures, by /proc")
	}

	pid := s.cmd.Process.Pid
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d still exists after stop", pid)
	}
	if _, err := httpsMeasures(1)[0].load(ctx, s, 100*time.Millisecond); err == nil {
		t.Error("a stopped server was measured without error")
	}
}

// TestHTTPSServerExitsEarly: a server that exits instead of serving fails
// the start at once, quoting what it said.
func TestHTTPSServerExitsEarly(t *testing.T) {
	bin := testguest.BuildNative(t, httpsGuest)
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, err = startHTTPSServer(context.Background(), "native", []string{bin, "-addr", addr}, keepEnv(), addr, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited before serving") || !strings.Contains(err.Error(), "-cert") {
		t.Fatalf("a server without a certificate gave %v, want an error quoting its complaint", err)
	}
}

func TestBaselineCertMatchesTheKeepsKey(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile, err := writeBaselineCert(t.TempDir(), &x509.Certificate{PublicKey: &key.PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("the native server's files: %v", err)
		}
		cert := pair.Leaf
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != curve {
			t.Errorf("made like a %s key, the native certificate has a %T key (%v)", curve.Params().Name, cert.PublicKey, pub)
		}
	}
}
