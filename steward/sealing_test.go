package steward

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/identity"
	"donjon.dev/steward/internal/sealwire"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

// sealingWorld is the hardware a sealing test's keeps run on: fake SNP
// and TDX devices, one in debug mode, all trusted by every steward the
// test starts.
type sealingWorld struct {
	tdx, tdxDebug *teetest.FakeTDX
	snpFake       *teetest.FakeSNP
}

func newSealingWorld(t testing.TB) *sealingWorld {
	t.Helper()
	w := &sealingWorld{}
	var err error
	if w.snpFake, err = teetest.NewFakeSNP(teetest.SNPOptions{Created: chainCreated}); err != nil {
		t.Fatal(err)
	}
	if w.tdx, err = teetest.NewFakeTDX(teetest.TDXOptions{Created: chainCreated}); err != nil {
		t.Fatal(err)
	}
	if w.tdxDebug, err = teetest.NewFakeTDX(teetest.TDXOptions{Created: chainCreated, Debug: true}); err != nil {
		t.Fatal(err)
	}
	return w
}

// sealingSteward is a steward started from a state directory, as `donjon
// steward serve` does: CA and sealing secret loaded or created there.
type sealingSteward struct {
	*Steward
	url   string
	ca    *CA
	log   *Log
	logs  *syncBuffer
	clock *time.Time
	srv   *httptest.Server
}

// syncBuffer collects the steward's log lines from concurrent requests.
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

func startSealing(t testing.TB, w *sealingWorld, dir string, p *policy.Policy, mutate ...func(*Config)) *sealingSteward {
	t.Helper()
	clock := now
	ca, _, err := LoadOrCreateCA(dir, "test steward CA", clock)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := LoadOrCreateSealingSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := OpenLog(context.Background(), filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	logs := &syncBuffer{}
	cfg := Config{
		CA: ca, Policy: p, Log: lg, SealingSecret: secret,
		SNPRoots: []snp.Root{w.snpFake.Root},
		TDXRoots: []*x509.Certificate{w.tdx.Root, w.tdxDebug.Root},
		Now:      func() time.Time { return clock },
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &sealingSteward{Steward: s, url: srv.URL, ca: ca, log: lg, logs: logs, clock: &clock, srv: srv}
}

// keep is a certified keep: its chain (CA first) and key.
type keep struct {
	ca, leaf *x509.Certificate
	signer   crypto.Signer
}

func certify(t testing.TB, s *sealingSteward, platform tee.Platform, mod [32]byte) *keep {
	t.Helper()
	id, err := identity.New(context.Background(), platform, mod, config)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := id.CSR()
	if err != nil {
		t.Fatal(err)
	}
	chain, err := stewardclient.Request(context.Background(), nil, s.url, csr)
	if err != nil {
		t.Fatalf("certify a %s keep: %v", platform.Name(), err)
	}
	return &keep{ca: chain[0], leaf: chain[1], signer: id.Signer()}
}

func (k *keep) sealingKey(t testing.TB, s *sealingSteward, purpose string) []byte {
	t.Helper()
	key, err := stewardclient.SealingKey(context.Background(), nil, s.url, k.ca, k.leaf, k.signer, purpose)
	if err != nil {
		t.Fatalf("sealing key %q: %v", purpose, err)
	}
	if len(key) != 32 || bytes.Equal(key, make([]byte, 32)) {
		t.Fatalf("sealing key %x", key)
	}
	return key
}

var otherModule = sha256.Sum256([]byte("another module"))

// sealingPolicy accepts the test modules on every platform, not in debug
// mode; top are more top-level lines.
func sealingPolicy(t testing.TB, top ...string) *policy.Policy {
	return testPolicy(t, append(top, `platforms = ["nil", "snp", "tdx"]`, "[workload]", modules(module, otherModule))...)
}

func TestSealingKeyBinding(t *testing.T) {
	w := newSealingWorld(t)
	dir := t.TempDir()
	s := startSealing(t, w, dir, sealingPolicy(t))
	ctx := context.Background()

	first := certify(t, s, tee.NewTDX(w.tdx.Client), module)
	purpose := "donjon.dev/keep sealed directory v1 module=… guest=/data"
	k := first.sealingKey(t, s, purpose)
	if again := first.sealingKey(t, s, purpose); !bytes.Equal(again, k) {
		t.Fatal("the same keep and purpose got another key")
	}
	second := certify(t, s, tee.NewTDX(w.tdx.Client), module)
	if bytes.Equal(first.leaf.RawSubjectPublicKeyInfo, second.leaf.RawSubjectPublicKeyInfo) {
		t.Fatal("two keeps share a key pair")
	}
	if got := second.sealingKey(t, s, purpose); !bytes.Equal(got, k) {
		t.Fatal("a second keep of the same module got another key")
	}

	distinct := map[string][]byte{"tdx, module, purpose": k}
	distinct["another purpose"] = first.sealingKey(t, s, purpose+"2")
	distinct["another module"] = certify(t, s, tee.NewTDX(w.tdx.Client), otherModule).sealingKey(t, s, purpose)
	distinct["nil platform"] = certify(t, s, tee.NilPlatform{}, module).sealingKey(t, s, purpose)
	distinct["snp platform"] = certify(t, s, tee.NewSNP(w.snpFake.Client), module).sealingKey(t, s, purpose)
	seen := map[string]string{}
	for name, key := range distinct {
		if prev, dup := seen[string(key)]; dup {
			t.Errorf("%s and %s got the same key", name, prev)
		}
		seen[string(key)] = name
	}

	// Seven keys released, each logged without the key.
	if n, err := s.log.Releases(ctx); err != nil || n != 7 {
		t.Fatalf("the log holds %d releases (%v), want 7", n, err)
	}
	logs := s.logs.String()
	if strings.Count(logs, "sealing key released") != 7 || !strings.Contains(logs, fmt.Sprintf("module=%x", module)) || !strings.Contains(logs, "platform=tdx") {
		t.Errorf("the steward's log does not record the releases:\n%s", logs)
	}
	for name, key := range distinct {
		for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)} {
			if strings.Contains(logs, enc) {
				t.Errorf("the log holds the %s key", name)
			}
		}
	}
	if m := metricsText(t, s.url); !strings.Contains(m, `donjon_steward_sealing_key_requests_total{outcome="released"} 7`) {
		t.Errorf("metrics do not count the releases:\n%s", m)
	}

	// The steward restarts from its state directory: same CA, same secret,
	// same keys, and the keep's certificate is still good.
	s.srv.Close()
	restarted := startSealing(t, w, dir, sealingPolicy(t))
	if got := first.sealingKey(t, restarted, purpose); !bytes.Equal(got, k) {
		t.Fatal("after a restart the steward released another key")
	}
	// Another state directory is another steward: it knows neither the
	// keep's certificate nor the secret.
	stranger := startSealing(t, w, t.TempDir(), sealingPolicy(t))
	if _, err := stewardclient.SealingKey(ctx, nil, stranger.url, first.ca, first.leaf, first.signer, purpose); !errors.Is(err, stewardclient.ErrRefused) || !strings.Contains(err.Error(), RuleSealingCertificate+": ") {
		t.Fatalf("a certificate from another steward: %v", err)
	}
}

// A debug TD gets keys only under allow_debug, and never a production
// keep's: its host can read its memory.
func TestSealingKeyDebug(t *testing.T) {
	w := newSealingWorld(t)
	dir := t.TempDir()
	dev := startSealing(t, w, dir, sealingPolicy(t, "allow_debug = true"))
	prod := certify(t, dev, tee.NewTDX(w.tdx.Client), module)
	debug := certify(t, dev, tee.NewTDX(w.tdxDebug.Client), module)
	if bytes.Equal(prod.sealingKey(t, dev, "p"), debug.sealingKey(t, dev, "p")) {
		t.Fatal("a debug TD got the key of a production TD of the same module")
	}
	dev.srv.Close()
	strict := startSealing(t, w, dir, sealingPolicy(t))
	_, err := stewardclient.SealingKey(context.Background(), nil, strict.url, debug.ca, debug.leaf, debug.signer, "p")
	if !errors.Is(err, stewardclient.ErrRefused) || !strings.Contains(err.Error(), "(403): debug: ") {
		t.Fatalf("debug TD under a policy without allow_debug: %v", err)
	}
}

// sealingBody builds a request body: fields as given, the signature by
// signer over purpose and point unless sig is set.
type sealingBody struct {
	cert    []byte
	purpose string
	point   []byte
	signer  crypto.Signer
	sig     []byte
}

func (b sealingBody) json(t *testing.T) []byte {
	t.Helper()
	sig := b.sig
	if sig == nil {
		var err error
		if sig, err = sealwire.Sign(b.signer, sealwire.SignedMessage(b.purpose, b.point)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := json.Marshal(SealingKeyRequest{Certificate: b.cert, Purpose: b.purpose, PublicKey: b.point, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freshPoint(t *testing.T) []byte {
	t.Helper()
	k, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestSealingKeyRefusals(t *testing.T) {
	w := newSealingWorld(t)
	dir := t.TempDir()
	s := startSealing(t, w, dir, sealingPolicy(t))
	k := certify(t, s, tee.NewTDX(w.tdx.Client), module)
	nilKeep := certify(t, s, tee.NilPlatform{}, module)
	otherKeep := certify(t, s, tee.NewTDX(w.tdx.Client), otherModule)
	foreignSteward := startSealing(t, w, t.TempDir(), sealingPolicy(t))
	foreign := certify(t, foreignSteward, tee.NewTDX(w.tdx.Client), module)
	stranger, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	good := sealingBody{cert: k.leaf.Raw, purpose: "p", point: freshPoint(t), signer: k.signer}
	// A request an eavesdropper saw, with its point swapped for its own.
	var replayed SealingKeyRequest
	if err := json.Unmarshal(good.json(t), &replayed); err != nil {
		t.Fatal(err)
	}
	replayed.PublicKey = freshPoint(t)
	replayedBody, _ := json.Marshal(replayed)
	repurposed := replayed
	repurposed.PublicKey, repurposed.Purpose = good.point, "q"
	repurposedBody, _ := json.Marshal(repurposed)
	flipped := good
	flipped.sig, _ = sealwire.Sign(k.signer, sealwire.SignedMessage(good.purpose, good.point))
	flipped.sig[len(flipped.sig)/2] ^= 1
	compressed := elliptic.MarshalCompressed(elliptic.P384(), stranger.X, stranger.Y)
	offCurve := bytes.Clone(good.point)
	offCurve[len(offCurve)-1] ^= 1
	with := func(f func(*sealingBody)) []byte {
		b := good
		f(&b)
		return b.json(t)
	}

	cases := []struct {
		name, contentType string
		body              []byte
		status            int
		rule              string
	}{
		{"valid, for comparison", ContentTypeJSON, good.json(t), 200, ""},
		{"charset parameter", ContentTypeJSON + "; charset=utf-8", with(func(b *sealingBody) { b.point = freshPoint(t) }), 200, ""},
		{"certificate of another steward", ContentTypeJSON, with(func(b *sealingBody) { b.cert, b.signer = foreign.leaf.Raw, foreign.signer }), 403, RuleSealingCertificate},
		{"the CA certificate", ContentTypeJSON, with(func(b *sealingBody) { b.cert = s.ca.Cert.Raw }), 403, RuleSealingCertificate},
		{"signed by another key", ContentTypeJSON, with(func(b *sealingBody) { b.signer = stranger }), 403, RuleSealingSignature},
		{"signed by another keep", ContentTypeJSON, with(func(b *sealingBody) { b.signer = otherKeep.signer }), 403, RuleSealingSignature},
		{"flipped signature", ContentTypeJSON, flipped.json(t), 403, RuleSealingSignature},
		{"replayed with another public key", ContentTypeJSON, replayedBody, 403, RuleSealingSignature},
		{"replayed with another purpose", ContentTypeJSON, repurposedBody, 403, RuleSealingSignature},
		{"wrong content type", "application/octet-stream", good.json(t), 400, "request"},
		{"no content type", "", good.json(t), 400, "request"},
		{"not JSON", ContentTypeJSON, []byte("certificate=1"), 400, "request"},
		{"empty", ContentTypeJSON, nil, 400, "request"},
		{"JSON array", ContentTypeJSON, []byte(`[]`), 400, "request"},
		{"unknown field", ContentTypeJSON, append(bytes.TrimSuffix(good.json(t), []byte("}")), []byte(`,"module":"AA=="}`)...), 400, "request"},
		{"two objects", ContentTypeJSON, append(good.json(t), good.json(t)...), 400, "request"},
		{"bad base64", ContentTypeJSON, bytes.Replace(good.json(t), []byte(`"public_key":"`), []byte(`"public_key":"!`), 1), 400, "request"},
		{"no certificate", ContentTypeJSON, with(func(b *sealingBody) { b.cert = nil }), 400, "request"},
		{"certificate garbage", ContentTypeJSON, with(func(b *sealingBody) { b.cert = []byte("hello") }), 400, "request"},
		{"empty purpose", ContentTypeJSON, with(func(b *sealingBody) { b.purpose = "" }), 400, "request"},
		{"NUL in purpose", ContentTypeJSON, with(func(b *sealingBody) { b.purpose = "a\x00b" }), 400, "request"},
		{"purpose too long", ContentTypeJSON, with(func(b *sealingBody) { b.purpose = strings.Repeat("x", MaxSealingPurpose+1) }), 400, "request"},
		{"compressed point", ContentTypeJSON, with(func(b *sealingBody) { b.point = compressed }), 400, "request"},
		{"point off the curve", ContentTypeJSON, with(func(b *sealingBody) { b.point = offCurve }), 400, "request"},
		{"P-256 point", ContentTypeJSON, with(func(b *sealingBody) {
			p, _ := ecdh.P256().GenerateKey(rand.Reader)
			b.point = p.PublicKey().Bytes()
		}), 400, "request"},
		{"no signature", ContentTypeJSON, with(func(b *sealingBody) { b.sig = []byte{} }), 400, "request"},
		{"too large", ContentTypeJSON, make([]byte, MaxSealingRequest+1), 413, "request"},
	}
	for _, tc := range cases {
		status, body := post(t, s.url+SealingKeyPath, tc.contentType, tc.body)
		if status != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, body, tc.status)
			continue
		}
		if status == http.StatusOK {
			continue
		}
		if !strings.HasPrefix(string(body), tc.rule+": ") || strings.Count(string(body), "\n") != 1 || !strings.HasSuffix(string(body), "\n") {
			t.Errorf("%s: answer %q is not one line naming rule %q", tc.name, body, tc.rule)
		}
	}
	resp, err := http.Get(s.url + SealingKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET %s: %d, Allow %q", SealingKeyPath, resp.StatusCode, resp.Header.Get("Allow"))
	}

	// The certificate expires: no more keys, though the keep's key and
	// request are as before.
	*s.clock = k.leaf.NotAfter.Add(time.Second)
	status, body := post(t, s.url+SealingKeyPath, ContentTypeJSON, with(func(b *sealingBody) { b.point = freshPoint(t) }))
	if status != http.StatusForbidden || !strings.HasPrefix(string(body), RuleSealingCertificate+": ") || !strings.Contains(string(body), "expired") {
		t.Errorf("expired certificate: %d %s", status, body)
	}
	*s.clock = now
	m := metricsText(t, s.url)
	for _, want := range []string{
		`donjon_steward_sealing_key_requests_total{outcome="released"} 2`,
		`donjon_steward_sealing_key_requests_total{outcome="bad_request"} 19`, // 17 × 400, 413 and 405
		`donjon_steward_sealing_key_rejections_total{rule="sealing.signature"} 5`,
		`donjon_steward_sealing_key_rejections_total{rule="sealing.certificate"} 3`,
		`donjon_steward_requests_total{outcome="issued"} 3`, // the certificates; sealing requests are counted apart
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Same CA and secret, a stricter policy: the policy in force applies,
	// not the one the certificates were issued under.
	s.srv.Close()
	strict := startSealing(t, w, dir, testPolicy(t, `platforms = ["snp", "tdx"]`, "[workload]", modules(module)))
	for _, tc := range []struct {
		name string
		k    *keep
		rule string
	}{
		{"nil keep, policy without nil", nilKeep, "insecure"},
		{"module the policy no longer lists", otherKeep, "workload.modules"},
	} {
		b := sealingBody{cert: tc.k.leaf.Raw, purpose: "p", point: freshPoint(t), signer: tc.k.signer}
		status, body := post(t, strict.url+SealingKeyPath, ContentTypeJSON, b.json(t))
		if status != http.StatusForbidden || !strings.HasPrefix(string(body), tc.rule+": ") {
			t.Errorf("%s: %d %s, want 403 %s", tc.name, status, body, tc.rule)
		}
	}
	if n, err := strict.log.Releases(context.Background()); err != nil || n != 2 {
		t.Errorf("the log holds %d releases (%v), want the 2 granted", n, err)
	}
}

// Certificates the steward's CA signed but that must get no key: one that
// binds no workload (as the steward issues Enarx keeps under any_module:
// there is nothing to bind the key to), and one not for client use.
func TestSealingKeyCertificateContent(t *testing.T) {
	w := newSealingWorld(t)
	s := startSealing(t, w, t.TempDir(), testPolicy(t, `platforms = ["snp"]`, "[workload]", "any_module = true"))
	mint := func(c attest.Claims, usage ...x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ext, err := c.Extension()
		if err != nil {
			t.Fatal(err)
		}
		serial, _ := randomSerial()
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: "keep"},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage, ExtraExtensions: []pkix.Extension{ext},
		}, s.ca.Cert, &key.PublicKey, s.ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		return leaf, key
	}
	snpClaims := attest.Claims{Platform: attest.PlatformSNP, Product: snp.Milan, TCB: make([]byte, 8), Measurement: make([]byte, 48)}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	bound := snpClaims
	bound.ModuleDigest, bound.ConfigDigest = module, config

	for _, tc := range []struct {
		name   string
		claims attest.Claims
		usage  []x509.ExtKeyUsage
		want   string
	}{
		{"as issued", bound, both, ""},
		{"no workload", snpClaims, both, "(403): " + RuleSealingWorkload + ": "},
		{"server use only", bound, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "(403): " + RuleSealingCertificate + ": "},
	} {
		leaf, key := mint(tc.claims, tc.usage...)
		got, err := stewardclient.SealingKey(context.Background(), nil, s.url, s.ca.Cert, leaf, key, "p")
		if tc.want == "" {
			if err != nil || len(got) != 32 {
				t.Errorf("%s: %x, %v", tc.name, got, err)
			}
			continue
		}
		if !errors.Is(err, stewardclient.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSealingKeyNotConfigured(t *testing.T) {
	w := newSealingWorld(t)
	s := startSealing(t, w, t.TempDir(), sealingPolicy(t), func(c *Config) { c.SealingSecret = nil })
	k := certify(t, s, tee.NewTDX(w.tdx.Client), module)
	_, err := stewardclient.SealingKey(context.Background(), nil, s.url, k.ca, k.leaf, k.signer, "p")
	if !errors.Is(err, stewardclient.ErrNoSealingKeys) || !strings.Contains(err.Error(), "501") || !strings.Contains(err.Error(), "without a sealing secret") {
		t.Fatalf("a steward without a sealing secret: %v", err)
	}
	if _, _, err := s.ReleaseSealingKey(context.Background(), &SealingKeyRequest{}, ""); !errors.Is(err, ErrSealingNotConfigured) {
		t.Fatalf("ReleaseSealingKey without a secret: %v", err)
	}
	if !strings.Contains(metricsText(t, s.url), `donjon_steward_sealing_key_requests_total{outcome="unavailable"} 1`) {
		t.Error("metrics do not count the unavailable request")
	}
	if _, err := New(Config{CA: s.ca, Policy: sealingPolicy(t), Log: s.log, SealingSecret: make([]byte, 16)}); err == nil {
		t.Fatal("New accepted a 16-byte sealing secret")
	}
}

// Whoever sits between keep and steward (on plain HTTP, anyone on the
// path) can wrap a key of their own for the keep's public point; the keep
// must refuse it, or it would seal new data under a key they know.
func TestSealingKeyAnswerSubstituted(t *testing.T) {
	w := newSealingWorld(t)
	s := startSealing(t, w, t.TempDir(), sealingPolicy(t))
	k := certify(t, s, tee.NewTDX(w.tdx.Client), module)
	mitmCA, _, err := LoadOrCreateCA(t.TempDir(), "mitm", now)
	if err != nil {
		t.Fatal(err)
	}
	attackerKey := bytes.Repeat([]byte{7}, 32)
	target, _ := url.Parse(s.url)
	for _, tc := range []struct {
		name   string
		resign func(purpose string, keepPoint, point, ct []byte, orig []byte) []byte
	}{
		{"steward's signature kept", func(_ string, _, _, _, orig []byte) []byte { return orig }},
		{"re-signed by another CA", func(purpose string, keepPoint, point, ct, _ []byte) []byte {
			sig, err := sealwire.Sign(mitmCA.Key, sealwire.AnswerMessage(purpose, keepPoint, point, ct))
			if err != nil {
				t.Error(err)
			}
			return sig
		}},
	} {
		proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var req SealingKeyRequest
			if err := json.Unmarshal(body, &req); err != nil {
				t.Error(err)
			}
			resp, err := http.Post(target.JoinPath(r.URL.Path).String(), r.Header.Get("Content-Type"), bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			var genuine SealingKeyResponse
			json.NewDecoder(resp.Body).Decode(&genuine)
			resp.Body.Close()
			point, ct, err := sealwire.Wrap(req.PublicKey, req.Purpose, attackerKey)
			if err != nil {
				t.Error(err)
			}
			json.NewEncoder(rw).Encode(SealingKeyResponse{PublicKey: point, Ciphertext: ct, Signature: tc.resign(req.Purpose, req.PublicKey, point, ct, genuine.Signature)})
		}))
		key, err := stewardclient.SealingKey(context.Background(), nil, proxy.URL, k.ca, k.leaf, k.signer, "p")
		proxy.Close()
		if err == nil || !strings.Contains(err.Error(), "not signed by the steward's CA") || key != nil {
			t.Errorf("%s: key %x, %v", tc.name, key, err)
		}
	}
}

func TestSealingSecretFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	secret, created, err := LoadOrCreateSealingSecret(dir)
	if err != nil || !created || len(secret) != SealingSecretSize {
		t.Fatalf("first start: %d bytes, created=%t, %v", len(secret), created, err)
	}
	path := filepath.Join(dir, SealingSecretFile)
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("sealing secret mode %v (%v), want 0600", info.Mode(), err)
	}
	again, created, err := LoadOrCreateSealingSecret(dir)
	if err != nil || created || !bytes.Equal(again, secret) {
		t.Fatalf("second start: created=%t, same=%t, %v", created, bytes.Equal(again, secret), err)
	}
	if other, _, err := LoadOrCreateSealingSecret(t.TempDir()); err != nil || bytes.Equal(other, secret) {
		t.Fatalf("two state directories share a secret (%v)", err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSealingSecret(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable secret: %v", err)
	}
	for name, content := range map[string][]byte{"short": secret[:31], "long": append(bytes.Clone(secret), '\n'), "zero": make([]byte, 32)} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateSealingSecret(dir); err == nil || !strings.Contains(err.Error(), "restore it from the backup") {
			t.Errorf("%s secret: %v", name, err)
		}
	}
}

// The derivation is a stored format: every sealed directory depends on it.
// This pins it to the documented layout and to known output.
func TestSealingKeyDerivationVector(t *testing.T) {
	secret := bytes.Repeat([]byte{0x42}, 32)
	mod := sha256.Sum256([]byte("module"))
	c := &attest.Claims{Platform: attest.PlatformTDX, Debug: true, ModuleDigest: mod, ConfigDigest: sha256.Sum256([]byte("config"))}
	got := mustDerive(t, secret, c, "purpose")
	info := "donjon steward sealing key v1\x00" + "\x03tdx" + "\x01" + string(mod[:]) + "\x00\x00\x00\x07purpose"
	documented, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		t.Fatal(err)
	}
	const want = "f8edf9d77bdaafa2b8815e1c1eeb62a83064d4cba43f228b46cd2b4fab8698d7"
	if !bytes.Equal(got, documented) || hex.EncodeToString(got) != want {
		t.Fatalf("derived %x, documented layout %x, pinned %s: the key derivation changed, and every sealed directory with it", got, documented, want)
	}
	c.Debug = false
	if bytes.Equal(mustDerive(t, secret, c, "purpose"), got) {
		t.Fatal("debug is not bound")
	}
	c.Debug = true
	c.ConfigDigest = [32]byte{}
	if !bytes.Equal(mustDerive(t, secret, c, "purpose"), got) {
		t.Fatal("the config digest changes the key")
	}
}

func mustDerive(t *testing.T, secret []byte, c *attest.Claims, purpose string) []byte {
	t.Helper()
	k, err := deriveSealingKey(secret, c, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// BenchmarkSealingKey is one keep's request over HTTP on loopback: sign,
// verify, derive, wrap, sign the answer, log the release (an fsync), unwrap.
func BenchmarkSealingKey(b *testing.B) {
	w := newSealingWorld(b)
	s := startSealing(b, w, b.TempDir(), sealingPolicy(b))
	k := certify(b, s, tee.NewTDX(w.tdx.Client), module)
	for b.Loop() {
		k.sealingKey(b, s, "p")
	}
}
