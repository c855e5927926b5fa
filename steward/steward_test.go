package steward

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"donjon.dev/internal/testevidence"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/identity"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

var (
	chainCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now          = chainCreated.Add(24 * time.Hour)
	module       = sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00"))
	config       = sha256.Sum256([]byte("[[files]]\nkind = \"stdout\"\n"))
)

// testPolicy is a policy file as an operator writes it.
func testPolicy(t testing.TB, lines ...string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(strings.Join(lines, "\n")+"\n"), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func modules(ms ...[32]byte) string {
	var q []string
	for _, m := range ms {
		q = append(q, fmt.Sprintf("%q", fmt.Sprintf("%x", m)))
	}
	return "modules = [" + strings.Join(q, ", ") + "]"
}

// strictPolicy accepts the test module on SNP, not in debug mode.
func strictPolicy(t *testing.T, extra ...string) *policy.Policy {
	return testPolicy(t, append([]string{`platforms = ["snp", "tdx"]`, "[workload]", modules(module)}, extra...)...)
}

type fixture struct {
	steward *Steward
	url     string
	ca      *CA
	log     *Log
	fake    *teetest.FakeSNP
}

func newFixture(t *testing.T, p *policy.Policy, mutate ...func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	lg, err := OpenLog(context.Background(), filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	fake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: chainCreated})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Policy: p, Log: lg, SNPRoots: []snp.Root{fake.Root}, Now: func() time.Time { return now }}
	for _, m := range mutate {
		m(&cfg)
	}
	ca, created, err := LoadOrCreateCA(dir, "test steward CA", cfg.Now())
	if err != nil || !created {
		t.Fatalf("LoadOrCreateCA: created=%t, %v", created, err)
	}
	cfg.CA = ca
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{steward: s, url: srv.URL, ca: ca, log: lg, fake: fake}
}

func post(t *testing.T, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func keepCSR(t *testing.T, platform tee.Platform, mod [32]byte) (*identity.Identity, []byte) {
	t.Helper()
	id, err := identity.New(context.Background(), platform, mod, config)
	if err != nil {
		t.Fatal(err)
	}
	der, err := id.CSR()
	if err != nil {
		t.Fatal(err)
	}
	return id, der
}

func TestIssueSNP(t *testing.T) {
	f := newFixture(t, strictPolicy(t, `[certificate]`, `lifetime = "4h"`))
	id, csr := keepCSR(t, tee.NewSNP(f.fake.Client), module)
	chain, err := stewardclient.Request(context.Background(), nil, f.url, csr)
	if err != nil {
		t.Fatalf("the keep's request: %v", err)
	}
	if len(chain) != 2 || !chain[0].Equal(f.ca.Cert) {
		t.Fatalf("PkiPath of %d certificates, want CA then keep", len(chain))
	}
	leaf := chain[1]
	if !bytes.Equal(leaf.RawSubjectPublicKeyInfo, id.PublicKeyDER()) {
		t.Fatal("certificate is for another key than the request's")
	}
	if got := leaf.NotAfter.Sub(now); got != 4*time.Hour {
		t.Fatalf("lifetime %s, want the policy's 4h", got)
	}
	r, err := attest.VerifyChain(chain, attest.VerifyOptions{Now: now.Add(time.Hour), CAs: []*x509.Certificate{f.ca.Cert}})
	if err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	c := r.Claims
	if c.Platform != attest.PlatformSNP || c.Insecure || c.Debug || c.ModuleDigest != module || c.ConfigDigest != config ||
		c.Product != snp.Milan || len(c.Measurement) != 48 || len(c.TCB) != 8 || len(c.PlatformID) != 64 {
		t.Fatalf("certified claims %+v", c)
	}
	if _, err := attest.VerifyChain(chain, attest.VerifyOptions{Now: now.Add(5 * time.Hour), CAs: []*x509.Certificate{f.ca.Cert}}); err == nil {
		t.Fatal("certificate still valid after its lifetime")
	}
	n, err := f.log.Count(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("log has %d entries (%v), want 1", n, err)
	}
	e, err := f.log.Lookup(context.Background(), fmt.Sprintf("%x", leaf.SerialNumber))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Certificate, leaf.Raw) || e.Claims.ModuleDigest != module || e.Claims.Platform != attest.PlatformSNP || !e.IssuedAt.Equal(now) {
		t.Fatalf("log entry %+v does not record the certificate", e)
	}
}

func TestRefusals(t *testing.T) {
	debugFake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: chainCreated, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, strictPolicy(t),
		func(c *Config) { c.SNPRoots = append(c.SNPRoots, debugFake.Root) })
	_, good := keepCSR(t, tee.NewSNP(f.fake.Client), module)
	other := module
	other[0] ^= 1
	_, otherModule := keepCSR(t, tee.NewSNP(f.fake.Client), other)
	_, nilCSR := keepCSR(t, tee.NilPlatform{}, module)
	_, debugCSR := keepCSR(t, tee.NewSNP(debugFake.Client), module)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1

	cases := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		rule        string
	}{
		{"wrong content type", "application/octet-stream", good, 400, "request"},
		{"garbage", ContentTypeCSR, []byte("hello"), 400, "request"},
		{"empty", ContentTypeCSR, nil, 400, "request"},
		{"flipped byte", ContentTypeCSR, flipped, 0, ""},
		{"nil keep", ContentTypeCSR, nilCSR, 403, "insecure"},
		{"workload not allowed", ContentTypeCSR, otherModule, 403, "workload.modules"},
		{"debug keep", ContentTypeCSR, debugCSR, 403, "debug"},
		{"too large", ContentTypeCSR, make([]byte, DefaultMaxRequest+1), 413, "request"},
	}
	for _, tc := range cases {
		status, body := post(t, f.url, tc.contentType, tc.body)
		if status == http.StatusOK {
			t.Errorf("%s: issued a certificate", tc.name)
			continue
		}
		if tc.status != 0 && status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, body)
		}
		if tc.rule != "" && !strings.HasPrefix(string(body), tc.rule+": ") {
			t.Errorf("%s: answer %q does not name rule %q", tc.name, body, tc.rule)
		}
		if strings.Count(strings.TrimSpace(string(body)), "\n") != 0 {
			t.Errorf("%s: answer is not one line: %q", tc.name, body)
		}
	}
	resp, err := http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if n, _ := f.log.Count(context.Background()); n != 0 {
		t.Fatalf("log has %d entries after refusals only", n)
	}

	// The metrics name each refusal's rule.
	resp, err = http.Get(f.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`donjon_steward_rejections_total{rule="insecure"} 1`,
		`donjon_steward_rejections_total{rule="workload.modules"} 1`,
		`donjon_steward_requests_total{outcome="issued"} 0`,
		`donjon_steward_requests_total{outcome="forbidden"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPolicyPermissions(t *testing.T) {
	f := newFixture(t, testPolicy(t, `platforms = ["nil", "snp"]`, "[workload]", modules(module)))
	_, nilCSR := keepCSR(t, tee.NilPlatform{}, module)
	status, body := post(t, f.url, ContentTypeCSR, nilCSR)
	if status != http.StatusOK {
		t.Fatalf("nil keep under a policy that allows it: %d %s", status, body)
	}
	chain, err := stewardclient.ParsePkiPath(body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(chain[1].Subject.CommonName, "INSECURE") {
		t.Fatalf("nil keep's certificate CN %q does not say INSECURE", chain[1].Subject.CommonName)
	}
	opts := attest.VerifyOptions{Now: now, CAs: []*x509.Certificate{f.ca.Cert}}
	if _, err := attest.VerifyChain(chain, opts); !errors.Is(err, attest.ErrInsecure) {
		t.Fatalf("verifying an insecure certificate by default: %v, want ErrInsecure", err)
	}

	// The same keep against a steward whose policy refuses nil: the keep
	// learns why, in one line.
	strict := newFixture(t, strictPolicy(t))
	_, err = stewardclient.Request(context.Background(), nil, strict.url, nilCSR)
	if !errors.Is(err, stewardclient.ErrRefused) || !strings.Contains(err.Error(), "insecure: ") {
		t.Fatalf("refused keep's error: %v", err)
	}
}

// The real Enarx CSR from a Milan host verifies against AMD's real roots at
// its pinned time. Enarx binds no workload, so a policy listing modules
// refuses it, and one accepting any module certifies it.
func TestEnarxCSR(t *testing.T) {
	csr := testevidence.Read(t, "enarx/snp-milan.csr")
	at := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := func(c *Config) { c.SNPRoots = nil; c.Now = func() time.Time { return at } }

	strict := newFixture(t, strictPolicy(t), clock)
	if status, body := post(t, strict.url, ContentTypeCSR, csr); status != http.StatusForbidden || !strings.HasPrefix(string(body), "workload.modules") {
		t.Fatalf("Enarx CSR under a module list: %d %s", status, body)
	}
	open := newFixture(t, testPolicy(t, "[workload]", "any_module = true"), clock)
	status, body := post(t, open.url, ContentTypeCSR, csr)
	if status != http.StatusOK {
		t.Fatalf("Enarx CSR: %d %s", status, body)
	}
	chain, err := stewardclient.ParsePkiPath(body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := attest.VerifyChain(chain, attest.VerifyOptions{Now: at, CAs: []*x509.Certificate{open.ca.Cert}})
	if err != nil || r.Claims.Platform != attest.PlatformSNP || r.Claims.WorkloadBound() {
		t.Fatalf("Enarx keep's certificate: %+v, %v", r, err)
	}
	late := newFixture(t, testPolicy(t, "[workload]", "any_module = true"), func(c *Config) {
		c.SNPRoots = nil
		c.Now = func() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }
	})
	if status, body := post(t, late.url, ContentTypeCSR, csr); status != http.StatusForbidden {
		t.Fatalf("Enarx CSR after its CRLs expired: %d %s", status, body)
	}
}

func TestCAFiles(t *testing.T) {
	dir := t.TempDir()
	ca, created, err := LoadOrCreateCA(dir, "CA", now)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	info, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v (%v), want 0600", info.Mode(), err)
	}
	again, created, err := LoadOrCreateCA(dir, "CA", now.Add(time.Hour))
	if err != nil || created || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("second start: created=%t, same=%t, %v", created, err == nil && again.Cert.Equal(ca.Cert), err)
	}
	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCA(dir, "CA", now); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCA(dir, "CA", now); err == nil || !strings.Contains(err.Error(), "only one") {
		t.Fatalf("certificate without key: %v", err)
	}
	// A key that belongs to another certificate.
	other := t.TempDir()
	if _, _, err := LoadOrCreateCA(other, "other", now); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(filepath.Join(dir, CACertFile), filepath.Join(other, CAKeyFile)); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched key: %v", err)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	f := newFixture(t, strictPolicy(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.steward.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still answering after shutdown")
	}
}

// vcekSource is a VCEK cache holding one certificate.
type vcekSource struct {
	vcek  []byte
	calls int
}

func (v *vcekSource) VCEK(_ context.Context, report []byte) ([]byte, error) {
	v.calls++
	if v.vcek == nil {
		return nil, errors.New("not in the cache and no network")
	}
	return v.vcek, nil
}

// A keep whose host attached no certificate table: the steward finds the
// VCEK in its source, or refuses with the reason.
func TestEvidenceWithoutCertificateTable(t *testing.T) {
	fake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: chainCreated})
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.New(context.Background(), tee.NewSNP(fake.Client), module, config)
	if err != nil {
		t.Fatal(err)
	}
	ev := id.Evidence()
	table, err := tee.ParseCertTable(ev.Certs)
	if err != nil || table.VCEK() == nil {
		t.Fatalf("the fake's certificate table: %v", err)
	}
	ev.Certs = nil
	evExt, err := ev.Extension()
	if err != nil {
		t.Fatal(err)
	}
	stated, err := attest.DeclaredClaims(ev, module, config)
	if err != nil {
		t.Fatal(err)
	}
	claimsExt, err := stated.Extension()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{evExt, claimsExt}}, id.Signer())
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		source *vcekSource
		status int
	}{
		{"no source", nil, http.StatusForbidden},
		{"source without it", &vcekSource{}, http.StatusForbidden},
		{"source with it", &vcekSource{vcek: table.VCEK()}, http.StatusOK},
	} {
		f := newFixture(t, strictPolicy(t), func(c *Config) {
			c.SNPRoots = []snp.Root{fake.Root}
			if tc.source != nil {
				c.VCEK = tc.source
			}
		})
		status, body := post(t, f.url, ContentTypeCSR, csr)
		if status != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, body, tc.status)
		}
		if tc.source != nil && tc.source.calls != 1 {
			t.Errorf("%s: the source was asked %d times, want once", tc.name, tc.source.calls)
		}
		if status != http.StatusOK && !strings.Contains(string(body), "VCEK") {
			t.Errorf("%s: refusal %q does not say the VCEK is missing", tc.name, body)
		}
	}
}

// crlSource serves one CRL for Milan and nothing for the other lines.
type crlSource struct {
	milan *x509.RevocationList
	asked []string
}

func (c *crlSource) CRL(_ context.Context, product string) (*x509.RevocationList, error) {
	c.asked = append(c.asked, product)
	if product == snp.Milan && c.milan != nil {
		return c.milan, nil
	}
	return nil, errors.New("offline")
}

// With a CRL from the ARK that revokes the ASK, SNP evidence is refused;
// without one (offline) it is checked without revocation.
func TestSNPRevocation(t *testing.T) {
	fake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: chainCreated})
	if err != nil {
		t.Fatal(err)
	}
	_, csr := keepCSR(t, tee.NewSNP(fake.Client), module)
	revoking, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: now.Add(-time.Hour),
		NextUpdate: now.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: fake.Signer.Ask.SerialNumber, RevocationTime: now.Add(-time.Hour)},
		},
	}, fake.Signer.Ark, fake.Signer.Keys.Ark)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(revoking)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		source *crlSource
		status int
	}{
		{"offline", &crlSource{}, http.StatusOK},
		{"ASK revoked", &crlSource{milan: crl}, http.StatusForbidden},
	} {
		f := newFixture(t, strictPolicy(t), func(c *Config) { c.SNPRoots = []snp.Root{fake.Root}; c.CRLs = tc.source })
		status, body := post(t, f.url, ContentTypeCSR, csr)
		if status != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, body, tc.status)
		}
		if len(tc.source.asked) == 0 {
			t.Errorf("%s: the CRL source was not asked", tc.name)
		}
		if status == http.StatusForbidden && !strings.Contains(string(body), "revoked") {
			t.Errorf("%s: refusal %q does not say revoked", tc.name, body)
		}
	}
}

// The real Enarx CSR from an Ice Lake host verifies against Intel's real
// root at its pinned time; its platform is OutOfDate, which only a policy
// listing that status accepts.
func TestEnarxSGXCSR(t *testing.T) {
	csr := testevidence.Read(t, "enarx/sgx-icelake-i5.csr")
	at := time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC)
	clock := func(c *Config) { c.Now = func() time.Time { return at } }
	base := []string{`platforms = ["sgx"]`, "[workload]", "any_module = true"}

	strict := newFixture(t, testPolicy(t, base...), clock)
	if status, body := post(t, strict.url, ContentTypeCSR, csr); status != http.StatusForbidden || !strings.HasPrefix(string(body), "sgx.tcb_status: ") {
		t.Fatalf("OutOfDate SGX platform under the default status list: %d %s", status, body)
	}
	snpOnly := newFixture(t, testPolicy(t, `platforms = ["snp"]`, "[workload]", "any_module = true", "[sgx]", `tcb_status = ["OutOfDate"]`), clock)
	if status, body := post(t, snpOnly.url, ContentTypeCSR, csr); status != http.StatusForbidden || !strings.HasPrefix(string(body), "platform: ") {
		t.Fatalf("SGX keep under an SNP-only policy: %d %s", status, body)
	}
	open := newFixture(t, testPolicy(t, append(base, "[sgx]", `tcb_status = ["UpToDate", "OutOfDate"]`)...), clock)
	status, body := post(t, open.url, ContentTypeCSR, csr)
	if status != http.StatusOK {
		t.Fatalf("Enarx SGX CSR: %d %s", status, body)
	}
	chain, err := stewardclient.ParsePkiPath(body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := attest.VerifyChain(chain, attest.VerifyOptions{Now: at, CAs: []*x509.Certificate{open.ca.Cert}})
	if err != nil || r.Claims.Platform != attest.PlatformSGX || len(r.Claims.Measurement) != 32 || r.Claims.WorkloadBound() {
		t.Fatalf("Enarx SGX keep's certificate: %+v, %v", r, err)
	}
}

func TestCertificateNames(t *testing.T) {
	f := newFixture(t, strictPolicy(t, `[certificate]`, `names = ["localhost", "127.0.0.1", "*.apps.example.com"]`))
	id, err := identity.New(context.Background(), tee.NewSNP(f.fake.Client), module, config)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := id.CSR("localhost", "127.0.0.1", "web.apps.example.com")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := stewardclient.Request(context.Background(), nil, f.url, csr)
	if err != nil {
		t.Fatalf("a request for granted names: %v", err)
	}
	leaf := chain[1]
	if strings.Join(leaf.DNSNames, ",") != "localhost,web.apps.example.com" || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("certificate names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	// An ordinary TLS client checks them against the steward's CA.
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert)
	for _, name := range []string{"localhost", "127.0.0.1", "web.apps.example.com"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("the certificate does not verify for %s: %v", name, err)
		}
	}

	for _, names := range [][]string{{"localhost", "bank.example.com"}, {"127.0.0.2"}, {"apps.example.com"}} {
		csr, err := id.CSR(names...)
		if err != nil {
			t.Fatal(err)
		}
		code, body := post(t, f.url, "application/pkcs10", csr)
		if code != http.StatusForbidden || !strings.HasPrefix(string(body), "certificate.names: ") || !strings.Contains(string(body), names[len(names)-1]) {
			t.Errorf("names %v: %d %q, want 403 certificate.names", names, code, body)
		}
	}
	// Without [certificate] names, no name is granted.
	g := newFixture(t, strictPolicy(t))
	_, err = stewardclient.Request(context.Background(), nil, g.url, csr)
	if err == nil || !strings.Contains(err.Error(), "certificate.names") || !strings.Contains(err.Error(), "grants no names") {
		t.Errorf("a steward without certificate names: %v", err)
	}
}
