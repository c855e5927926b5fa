package steward_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"donjon.dev/internal/testevidence"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/identity"
	"donjon.dev/steward"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

// fuzzRoutes are the requests FuzzHandler makes, chosen by one fuzzed
// byte: the protocol's endpoint and its neighbours. (GET /metrics and GET
// /healthz answer 200 with other bodies; they are not the protocol.)
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/"},
	{http.MethodGet, "/"},
	{http.MethodPut, "/"},
	{http.MethodPost, "/x"},
	{http.MethodPost, "/metrics"},
	{http.MethodDelete, "/healthz"},
}

// fuzzMaxRequest is the steward's body limit in FuzzHandler, small enough
// for the fuzzer to cross, large enough for a CSR with SNP evidence.
const fuzzMaxRequest = 16 << 10

// FuzzHandler sends arbitrary requests (route, Content-Type, body) to the
// steward's handler, with a policy that accepts every platform, debug and
// any module, so that valid requests are certified. The steward must
// answer only with the protocol's statuses, never 500; a 200 must be a
// PkiPath certifying the request's key that verifies against the CA; every
// refusal must be exactly one line.
func FuzzHandler(f *testing.F) {
	at := time.Date(2026, 1, 3, 4, 5, 6, 0, time.UTC)
	fakeSNP, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: at.Add(-24 * time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	fakeTDX, err := teetest.NewFakeTDX(teetest.TDXOptions{Created: at.Add(-24 * time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	ca, _, err := steward.LoadOrCreateCA(dir, "fuzz steward CA", at.Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	lg, err := steward.OpenLog(context.Background(), filepath.Join(dir, steward.LogFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { lg.Close() })
	pol, err := policy.Parse([]byte("platforms = [\"nil\", \"snp\", \"tdx\"]\nallow_debug = true\n[workload]\nany_module = true\n"), "fuzz.toml")
	if err != nil {
		f.Fatal(err)
	}
	cfg := steward.Config{
		CA: ca, Policy: pol, Log: lg,
		SNPRoots:   []snp.Root{fakeSNP.Root},
		TDXRoots:   []*x509.Certificate{fakeTDX.Root},
		Now:        func() time.Time { return at },
		MaxRequest: fuzzMaxRequest,
	}
	s, err := steward.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	handler := s.Handler()
	verifyOpts := attest.VerifyOptions{Now: at, CAs: []*x509.Certificate{ca.Cert}, AllowInsecure: true, AllowDebug: true}

	module := sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00"))
	config := sha256.Sum256([]byte("[[files]]\nkind = \"stdout\"\n"))
	for _, platform := range []tee.Platform{tee.NewSNP(fakeSNP.Client), tee.NewTDX(fakeTDX.Client), tee.NilPlatform{}} {
		id, err := identity.New(context.Background(), platform, module, config)
		if err != nil {
			f.Fatal(err)
		}
		csr, err := id.CSR()
		if err != nil {
			f.Fatal(err)
		}
		if len(csr) > fuzzMaxRequest {
			f.Fatalf("a %s CSR of %d bytes is over the fuzzed steward's limit", platform.Name(), len(csr))
		}
		f.Add(uint8(0), steward.ContentTypeCSR, csr)
		f.Add(uint8(0), steward.ContentTypeCSR+"; charset=binary", csr[:len(csr)-1])
	}
	// Refused with 403: a TDX device whose root the steward does not trust,
	// and Enarx keeps' real SNP and SGX requests, whose platforms' CRLs
	// and collateral expired long ago.
	stranger, err := teetest.NewFakeTDX(teetest.TDXOptions{Created: at.Add(-24 * time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	id, err := identity.New(context.Background(), tee.NewTDX(stranger.Client), module, config)
	if err != nil {
		f.Fatal(err)
	}
	csr, err := id.CSR()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), steward.ContentTypeCSR, csr)
	f.Add(uint8(0), steward.ContentTypeCSR, enarxCSR(f, "snp-milan.csr"))
	f.Add(uint8(0), steward.ContentTypeCSR, enarxCSR(f, "sgx-icelake-i5.csr"))
	f.Add(uint8(0), "application/octet-stream", []byte{0x30, 0x00})
	f.Add(uint8(0), steward.ContentTypeCSR, []byte("not a request\n"))
	f.Add(uint8(0), steward.ContentTypeCSR, make([]byte, fuzzMaxRequest+1))
	f.Add(uint8(0), "", []byte{})
	for route := range fuzzRoutes[1:] {
		f.Add(uint8(route+1), steward.ContentTypeCSR, []byte{0x30, 0x00})
	}
	allowed := []int{http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge}

	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		resp := rec.Result()
		answer := rec.Body.Bytes()
		if !slices.Contains(allowed, resp.StatusCode) {
			t.Fatalf("%s %s answered %d: %q", r.method, r.path, resp.StatusCode, answer)
		}
		if resp.StatusCode != http.StatusOK {
			line := string(answer)
			if !strings.HasSuffix(line, "\n") || strings.ContainsAny(strings.TrimSuffix(line, "\n"), "\r\n") || strings.TrimSpace(line) == "" {
				t.Fatalf("refusal %d is not exactly one line: %q", resp.StatusCode, line)
			}
			return
		}
		if r.method != http.MethodPost || r.path != "/" {
			t.Fatalf("%s %s answered 200", r.method, r.path)
		}
		if ct := resp.Header.Get("Content-Type"); ct != steward.ContentTypePkiPath {
			t.Fatalf("200 with Content-Type %q", ct)
		}
		chain, err := stewardclient.ParsePkiPath(answer)
		if err != nil {
			t.Fatalf("200 with a body that is not a PkiPath: %v", err)
		}
		csr, err := x509.ParseCertificateRequest(body)
		if err != nil {
			t.Fatalf("certified a request that does not parse: %v", err)
		}
		if leaf := chain[len(chain)-1]; !bytes.Equal(leaf.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
			t.Fatal("the certificate is for another key than the request's")
		}
		if !chain[0].Equal(ca.Cert) {
			t.Fatal("the PkiPath does not start with the steward's CA")
		}
		if _, err := attest.VerifyChain(chain, verifyOpts); err != nil {
			t.Fatalf("the steward issued a chain that does not verify: %v", err)
		}
	})
}

// enarxCSR is a real Enarx keep's certificate request, from
// shared/testdata/evidence/enarx above the package.
func enarxCSR(tb testing.TB, name string) []byte {
	tb.Helper()
	return testevidence.Read(tb, "enarx/"+name)
}
