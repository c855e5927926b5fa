package kds_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sevkds "github.com/google/go-sev-guest/kds"

	"donjon.dev/attest/snp"
	"donjon.dev/attest/snp/kds"
)

// fakeKDS is an HTTP server that counts and records the requests it gets.
type fakeKDS struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	uris     []string
}

func newFakeKDS(t *testing.T, handler http.HandlerFunc) *fakeKDS {
	t.Helper()
	k := &fakeKDS{}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.requests.Add(1)
		k.mu.Lock()
		k.uris = append(k.uris, r.URL.RequestURI())
		k.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *fakeKDS) requestURIs() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.uris...)
}

// serveAt answers body at exactly one path and query, 404 elsewhere.
func serveAt(uri string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.RequestURI() != uri {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}
}

// deadURL is the address of a server that is no longer there.
func deadURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestVCEKRealMilanEndToEnd(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	server := newFakeKDS(t, serveAt(milanPath, vcek))
	dir := t.TempDir()
	f := &kds.Fetcher{BaseURL: server.URL, CacheDir: dir, Product: kds.Milan}

	got, err := f.VCEK(context.Background(), report)
	if err != nil {
		t.Fatalf("VCEK: %v", err)
	}
	if !bytes.Equal(got, vcek) {
		t.Fatalf("VCEK returned %d bytes, not the served certificate", len(got))
	}
	if uris := server.requestURIs(); len(uris) != 1 || uris[0] != milanPath {
		t.Fatalf("requests = %q, want exactly [%s]", uris, milanPath)
	}
	// The fetched certificate is what the verifier needs, against the real AMD roots.
	if _, err := snp.Verify(report, got, snp.Options{Now: milanReportTime}); err != nil {
		t.Fatalf("snp.Verify with the fetched VCEK: %v", err)
	}

	// Memory hit: no second request.
	if again, err := f.VCEK(context.Background(), report); err != nil || !bytes.Equal(again, vcek) {
		t.Fatalf("second VCEK: %v", err)
	}
	if n := server.requests.Load(); n != 1 {
		t.Fatalf("a memory hit made a request: %d requests", n)
	}

	// On disk under vcek/<CacheName>, readable by all.
	req, err := kds.ParseReport(report, kds.Milan)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "vcek", req.CacheName())
	onDisk, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(onDisk, vcek) {
		t.Fatalf("cache file %s: %v (equal=%v)", file, err, bytes.Equal(onDisk, vcek))
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o644 {
		t.Errorf("cache file mode %v, want 0644", st.Mode().Perm())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "vcek", ".tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %q", leftovers)
	}

	// Disk hit in a new Fetcher (a restart): no request.
	restarted := &kds.Fetcher{BaseURL: server.URL, CacheDir: dir, Product: kds.Milan}
	if again, err := restarted.VCEK(context.Background(), report); err != nil || !bytes.Equal(again, vcek) {
		t.Fatalf("after restart: %v", err)
	}
	if n := server.requests.Load(); n != 1 {
		t.Fatalf("a disk hit made a request: %d requests", n)
	}
}

func TestVCEKOfflineFromSeededCache(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	req, err := kds.ParseReport(report, kds.Milan)
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []struct {
		name string
		data []byte
	}{
		{"DER", vcek},
		{"PEM", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vcek})},
	} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "vcek"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "vcek", req.CacheName()), form.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f := &kds.Fetcher{BaseURL: deadURL(t), CacheDir: dir, Product: kds.Milan}
		got, err := f.VCEK(context.Background(), report)
		if err != nil {
			t.Fatalf("%s seed, no network: %v", form.name, err)
		}
		if !bytes.Equal(got, vcek) {
			t.Errorf("%s seed: got %d bytes, want the DER VCEK", form.name, len(got))
		}
	}
}

func TestVCEKTestChainVerifies(t *testing.T) {
	chip := testChip(7)
	parts := sevkds.TCBParts{BlSpl: 3, TeeSpl: 0, SnpSpl: 8, UcodeSpl: 115}
	tcb, err := sevkds.ComposeTCBParts(parts)
	if err != nil {
		t.Fatal(err)
	}
	signer := testSigner(t, "Milan-B0", chip[:], parts)
	report := makeReport(t, 3, 0x19, 0x01, chip, uint64(tcb))
	signReport(t, signer, report)

	// A base URL with a path and a trailing slash: a mirror.
	wantURI := "/mirror/vcek/v1/Milan/" + hexOf(chip[:]) + "?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"
	server := newFakeKDS(t, serveAt(wantURI, signer.Vcek.Raw))
	f := &kds.Fetcher{BaseURL: server.URL + "/mirror/"}
	got, err := f.VCEK(context.Background(), report)
	if err != nil {
		t.Fatalf("VCEK: %v (requests %q)", err, server.requestURIs())
	}
	if !bytes.Equal(got, signer.Vcek.Raw) {
		t.Fatal("VCEK is not the served certificate")
	}
	opts := snp.Options{
		Now:   testChainCreated.Add(24 * time.Hour),
		Roots: []snp.Root{{Product: snp.Milan, ARK: signer.Ark, ASK: signer.Ask}},
	}
	if _, err := snp.Verify(report, got, opts); err != nil {
		t.Fatalf("snp.Verify with the fetched test VCEK: %v", err)
	}
}

func TestVCEKTurin(t *testing.T) {
	chip := testChip(0x90)
	var hwid [64]byte // Turin VCEKs carry the 8-byte id, zero padded
	copy(hwid[:8], chip[:8])
	signer := testSigner(t, "Turin-B0", hwid[:], sevkds.TCBParts{BlSpl: 2, TeeSpl: 3, SnpSpl: 4, UcodeSpl: 0x5a})
	report := makeReport(t, 3, 0x1A, 0x02, chip, 0x5a00000004030201)
	wantURI := "/vcek/v1/Turin/" + hexOf(chip[:8]) + "?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=90"
	server := newFakeKDS(t, serveAt(wantURI, signer.Vcek.Raw))
	got, err := (&kds.Fetcher{BaseURL: server.URL}).VCEK(context.Background(), report)
	if err != nil {
		t.Fatalf("VCEK: %v (requests %q)", err, server.requestURIs())
	}
	if !bytes.Equal(got, signer.Vcek.Raw) {
		t.Fatal("VCEK is not the served certificate")
	}
}

func TestVCEKBadResponses(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	realVCEK := readEvidence(t, "snp/milan-vcek.der")
	var realChip [64]byte
	copy(realChip[:], report[0x1A0:0x1E0])
	chip9 := testChip(9)
	otherChip := testSigner(t, "Milan-B0", chip9[:], sevkds.TCBParts{BlSpl: 2, SnpSpl: 5, UcodeSpl: 68}).Vcek.Raw
	otherTCB := testSigner(t, "Milan-B0", realChip[:], sevkds.TCBParts{BlSpl: 2, SnpSpl: 6, UcodeSpl: 68}).Vcek.Raw
	notVCEK := testSigner(t, "Milan-B0", realChip[:], sevkds.TCBParts{}).Ask.Raw
	oversize := append(bytes.Clone(realVCEK), make([]byte, kds.MaxCertSize)...)

	body := func(status int, b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write(b)
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
		mention string
	}{
		{"404", body(http.StatusNotFound, []byte("not found")), kds.ErrNotFound, "HTTP 404"},
		{"500", body(http.StatusInternalServerError, nil), kds.ErrUnavailable, "HTTP 500"},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		}, kds.ErrUnavailable, "retry after 7 s"},
		{"400", body(http.StatusBadRequest, nil), kds.ErrBadResponse, "HTTP 400"},
		{"HTML", body(http.StatusOK, []byte("<!DOCTYPE html>\n<html><body>Sign in to the Wi-Fi</body></html>")), kds.ErrBadResponse, "HTML"},
		{"empty", body(http.StatusOK, nil), kds.ErrBadResponse, "empty"},
		{"garbage DER", body(http.StatusOK, []byte{0x30, 0x82, 0x05, 0x00, 0x01, 0x02, 0x03}), kds.ErrBadResponse, "not an X.509 certificate"},
		{"trailing bytes", body(http.StatusOK, append(bytes.Clone(realVCEK), 0)), kds.ErrBadResponse, "not an X.509 certificate"},
		{"oversize, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write(oversize[:100])
			w.(http.Flusher).Flush()
			w.Write(oversize[100:])
		}, kds.ErrBadResponse, "more than 16384 bytes"},
		{"oversize, with length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(oversize)))
			w.Write(oversize)
		}, kds.ErrBadResponse, "the limit is 16384"},
		{"VCEK of another chip", body(http.StatusOK, otherChip), kds.ErrBadResponse, "another chip"},
		{"VCEK of another TCB", body(http.StatusOK, otherTCB), kds.ErrBadResponse, "snpSPL=6, the report needs 5"},
		{"not a VCEK", body(http.StatusOK, notVCEK), kds.ErrBadResponse, "not a VCEK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := newFakeKDS(t, tc.handler)
			dir := t.TempDir()
			f := &kds.Fetcher{BaseURL: server.URL, CacheDir: dir, Product: kds.Milan}
			_, err := f.VCEK(context.Background(), report)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.mention)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			// Nothing cached: the next call asks again.
			if entries, _ := os.ReadDir(filepath.Join(dir, "vcek")); len(entries) != 0 {
				t.Errorf("a failed fetch left %d files in the cache", len(entries))
			}
			f.VCEK(context.Background(), report)
			if n := server.requests.Load(); n != 2 {
				t.Errorf("after two failed calls: %d requests, want 2", n)
			}
		})
	}
}

func TestVCEKUnreachable(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	req, err := kds.ParseReport(report, kds.Milan)
	if err != nil {
		t.Fatal(err)
	}
	base := deadURL(t)
	dir := t.TempDir()
	_, err = (&kds.Fetcher{BaseURL: base, CacheDir: dir, Product: kds.Milan}).VCEK(context.Background(), report)
	if !errors.Is(err, kds.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	// The error says exactly what to download and where to put it.
	for _, want := range []string{"no network access to " + strings.TrimPrefix(base, "http://"), base + milanPath, filepath.Join(dir, "vcek", req.CacheName()), "certificate table"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	_, err = (&kds.Fetcher{BaseURL: base, Product: kds.Milan}).VCEK(context.Background(), report)
	if !errors.Is(err, kds.ErrUnavailable) || !strings.Contains(err.Error(), "set a cache directory") {
		t.Errorf("without a cache directory: err = %v", err)
	}
}

func TestVCEKBadBaseURL(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	for _, base := range []string{"kdsintf.amd.com", "ftp://kdsintf.amd.com", "https://", "https://kds.example/?x=1", "http://[::1"} {
		_, err := (&kds.Fetcher{BaseURL: base, Product: kds.Milan}).VCEK(context.Background(), report)
		if err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("BaseURL %q: err = %v, want a base URL error", base, err)
		}
	}
}

func TestVCEKContextCancel(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	arrived := make(chan struct{})
	server := newFakeKDS(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // hang until the client gives up
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := (&kds.Fetcher{BaseURL: server.URL, Product: kds.Milan}).VCEK(ctx, report)
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}

	// Already cancelled: an error without waiting on the network.
	_, err := (&kds.Fetcher{BaseURL: server.URL, Product: kds.Milan}).VCEK(ctx, report)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v", err)
	}
}

func TestVCEKWaiterOutlivesCancelledLeader(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	arrived := make(chan struct{})
	var first atomic.Bool
	server := newFakeKDS(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			close(arrived)
			<-r.Context().Done()
			return
		}
		serveAt(milanPath, vcek)(w, r)
	})
	f := &kds.Fetcher{BaseURL: server.URL, Product: kds.Milan}
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := f.VCEK(ctx, report)
		leader <- err
	}()
	<-arrived
	waiter := make(chan error, 1)
	go func() {
		got, err := f.VCEK(context.Background(), report)
		if err == nil && !bytes.Equal(got, vcek) {
			err = errors.New("wrong certificate")
		}
		waiter <- err
	}()
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want context.Canceled", err)
	}
	// Whether it joined the cancelled download or came after it, the
	// second caller must get the certificate, not the first caller's error.
	if err := <-waiter; err != nil {
		t.Fatalf("second caller: %v", err)
	}
	if n := server.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the cancelled one and the retry)", n)
	}
}

func TestVCEKConcurrent(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	chip := testChip(3)
	parts := sevkds.TCBParts{BlSpl: 1, SnpSpl: 2, UcodeSpl: 3}
	tcb, _ := sevkds.ComposeTCBParts(parts)
	other := makeReport(t, 3, 0x19, 0x01, chip, uint64(tcb))
	otherVCEK := testSigner(t, "Milan-B0", chip[:], parts).Vcek.Raw
	otherURI := "/vcek/v1/Milan/" + hexOf(chip[:]) + "?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=3"

	server := newFakeKDS(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.RequestURI() {
		case milanPath:
			w.Write(vcek)
		case otherURI:
			w.Write(otherVCEK)
		default:
			http.NotFound(w, r)
		}
	})
	f := &kds.Fetcher{BaseURL: server.URL, CacheDir: t.TempDir(), Product: kds.Milan}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, want := report, vcek
			if i%2 == 1 {
				rep, want = other, otherVCEK
			}
			got, err := f.VCEK(context.Background(), rep)
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New("got the wrong certificate")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One download per certificate, however the calls interleaved.
	if n := server.requests.Load(); n != 2 {
		t.Errorf("%d requests for 2 certificates, want 2", n)
	}
}

func TestVCEKResultIsACopy(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	server := newFakeKDS(t, serveAt(milanPath, vcek))
	f := &kds.Fetcher{BaseURL: server.URL, Product: kds.Milan}
	got, err := f.VCEK(context.Background(), report)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = 0
	}
	again, err := f.VCEK(context.Background(), report)
	if err != nil || !bytes.Equal(again, vcek) {
		t.Fatalf("changing a result changed the cache: %v", err)
	}
}

func TestVCEKBadCacheFileReplaced(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	req, err := kds.ParseReport(report, kds.Milan)
	if err != nil {
		t.Fatal(err)
	}
	var realChip [64]byte
	copy(realChip[:], report[0x1A0:0x1E0])
	wrongTCB := testSigner(t, "Milan-B0", realChip[:], sevkds.TCBParts{BlSpl: 1}).Vcek.Raw
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("this is not a certificate")},
		{"truncated", vcek[:len(vcek)/2]},
		{"wrong VCEK", wrongTCB},
		{"oversize", make([]byte, kds.MaxCertSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "vcek", req.CacheName())
			os.MkdirAll(filepath.Dir(file), 0o755)
			if err := os.WriteFile(file, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			server := newFakeKDS(t, serveAt(milanPath, vcek))
			f := &kds.Fetcher{BaseURL: server.URL, CacheDir: dir, Product: kds.Milan, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			got, err := f.VCEK(context.Background(), report)
			if err != nil || !bytes.Equal(got, vcek) {
				t.Fatalf("VCEK: %v", err)
			}
			if n := server.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if onDisk, _ := os.ReadFile(file); !bytes.Equal(onDisk, vcek) {
				t.Error("the bad cache file was not replaced")
			}
			if !strings.Contains(logs.String(), "ignoring cached VCEK") {
				t.Errorf("no warning logged: %s", logs.String())
			}
		})
	}
}

func TestVCEKUnwritableCacheStillReturns(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	server := newFakeKDS(t, serveAt(milanPath, vcek))
	f := &kds.Fetcher{BaseURL: server.URL, CacheDir: notADir, Product: kds.Milan, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	got, err := f.VCEK(context.Background(), report)
	if err != nil || !bytes.Equal(got, vcek) {
		t.Fatalf("a cache that cannot be written must not fail the fetch: %v", err)
	}
	if !strings.Contains(logs.String(), "not cached on disk") {
		t.Errorf("no warning logged: %s", logs.String())
	}
}

// testCRL makes a CRL signed by a throw-away CA.
type crlIssuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCRLIssuer(t *testing.T) crlIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test ARK"},
		NotBefore:             testChainCreated,
		NotAfter:              testChainCreated.Add(24 * 365 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return crlIssuer{cert: parseCert(t, der), key: key}
}

func (c crlIssuer) crl(t *testing.T, number int64, thisUpdate, nextUpdate time.Time) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(number),
		ThisUpdate: thisUpdate,
		NextUpdate: nextUpdate,
	}, c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCRLCachedUntilNextUpdate(t *testing.T) {
	issuer := newCRLIssuer(t)
	t0 := testChainCreated.Add(time.Hour)
	var served atomic.Pointer[[]byte]
	first := issuer.crl(t, 1, t0, t0.Add(24*time.Hour))
	served.Store(&first)
	server := newFakeKDS(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RequestURI() != "/vcek/v1/Genoa/crl" {
			http.NotFound(w, r)
			return
		}
		w.Write(*served.Load())
	})
	now := t0.Add(time.Minute)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	f := &kds.Fetcher{BaseURL: server.URL, CacheDir: dir, Now: clock}

	crl, err := f.CRL(context.Background(), kds.Genoa)
	if err != nil || crl.Number.Int64() != 1 {
		t.Fatalf("CRL: %v", err)
	}
	if err := crl.CheckSignatureFrom(issuer.cert); err != nil {
		t.Fatalf("the CRL returned is not the one served: %v", err)
	}
	if _, err := f.CRL(context.Background(), kds.Genoa); err != nil {
		t.Fatal(err)
	}
	if n := server.requests.Load(); n != 1 {
		t.Fatalf("a current cached CRL made a request: %d", n)
	}
	// A restart reads it from disk.
	if _, err := (&kds.Fetcher{BaseURL: server.URL, CacheDir: dir, Now: clock}).CRL(context.Background(), kds.Genoa); err != nil {
		t.Fatal(err)
	}
	if n := server.requests.Load(); n != 1 {
		t.Fatalf("a current CRL on disk made a request: %d", n)
	}

	// Past NextUpdate: fetched again, and the new list replaces the old.
	second := issuer.crl(t, 2, t0.Add(24*time.Hour), t0.Add(48*time.Hour))
	served.Store(&second)
	now = t0.Add(25 * time.Hour)
	crl, err = f.CRL(context.Background(), kds.Genoa)
	if err != nil || crl.Number.Int64() != 2 {
		t.Fatalf("after NextUpdate: %v, number %v", err, crl)
	}
	if n := server.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	if onDisk, _ := os.ReadFile(filepath.Join(dir, "crl", "Genoa.crl")); !bytes.Equal(onDisk, second) {
		t.Error("the cache file does not hold the new CRL")
	}
}

func TestCRLStaleOnArrival(t *testing.T) {
	issuer := newCRLIssuer(t)
	t0 := testChainCreated
	stale := issuer.crl(t, 5, t0, t0.Add(time.Hour))
	server := newFakeKDS(t, serveAt("/vcek/v1/Milan/crl", stale))
	f := &kds.Fetcher{BaseURL: server.URL, Now: func() time.Time { return t0.Add(2 * time.Hour) }}
	for range 2 {
		crl, err := f.CRL(context.Background(), kds.Milan)
		if err != nil || crl.Number.Int64() != 5 {
			t.Fatalf("a stale CRL is still returned for the verifier to judge: %v", err)
		}
	}
	if n := server.requests.Load(); n != 2 {
		t.Errorf("a stale CRL must not be served from the cache: %d requests, want 2", n)
	}
}

func TestCRLErrors(t *testing.T) {
	if _, err := (&kds.Fetcher{BaseURL: deadURL(t)}).CRL(context.Background(), "milan"); err == nil || !strings.Contains(err.Error(), `"milan"`) {
		t.Errorf("lower-case product: err = %v", err)
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"404", http.NotFound, kds.ErrNotFound},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>no</html>")) }, kds.ErrBadResponse},
		{"oversize", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, kds.MaxCRLSize+1)) }, kds.ErrBadResponse},
	} {
		server := newFakeKDS(t, tc.handler)
		_, err := (&kds.Fetcher{BaseURL: server.URL}).CRL(context.Background(), kds.Turin)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	_, err := (&kds.Fetcher{BaseURL: deadURL(t), CacheDir: "/nonexistent"}).CRL(context.Background(), kds.Turin)
	if !errors.Is(err, kds.ErrUnavailable) || !strings.Contains(err.Error(), filepath.Join("/nonexistent", "crl", "Turin.crl")) {
		t.Errorf("unreachable: err = %v", err)
	}
}
