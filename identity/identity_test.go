package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/snp"
	"donjon.dev/attest/tdx"
	"donjon.dev/attest/tdx/tdxtest"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

var (
	chainCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	issuedAt     = chainCreated.Add(24 * time.Hour)
	verifyAt     = issuedAt.Add(time.Hour)
	module       = sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00"))
	config       = sha256.Sum256([]byte("[[files]]\nkind = \"stdout\"\n"))
)

func newSNPIdentity(t *testing.T, debug bool) (*Identity, *teetest.FakeSNP) {
	t.Helper()
	fake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: chainCreated, Debug: debug})
	if err != nil {
		t.Fatal(err)
	}
	id, err := New(context.Background(), tee.NewSNP(fake.Client), module, config)
	if err != nil {
		t.Fatalf("New on the fake SNP device: %v", err)
	}
	return id, fake
}

func selfSigned(t *testing.T, id *Identity) []byte {
	t.Helper()
	der, err := id.SelfSigned(issuedAt, 2*time.Hour)
	if err != nil {
		t.Fatalf("SelfSigned: %v", err)
	}
	return der
}

func TestNilEndToEnd(t *testing.T) {
	id, err := New(context.Background(), tee.NilPlatform{}, module, config)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	der := selfSigned(t, id)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cert.Subject.CommonName, "INSECURE") {
		t.Fatalf("nil certificate's CN %q does not say INSECURE", cert.Subject.CommonName)
	}
	if _, err := attest.VerifySelfSigned(der, attest.VerifyOptions{Now: verifyAt}); !errors.Is(err, attest.ErrInsecure) {
		t.Fatalf("VerifySelfSigned without AllowInsecure: %v, want ErrInsecure", err)
	}
	c, err := attest.VerifySelfSigned(der, attest.VerifyOptions{Now: verifyAt, AllowInsecure: true})
	if err != nil {
		t.Fatalf("VerifySelfSigned with AllowInsecure: %v", err)
	}
	if c.Platform != attest.PlatformNil || !c.Insecure || c.ModuleDigest != module || c.ConfigDigest != config {
		t.Fatalf("claims %+v, want insecure nil with the workload digests", c)
	}
}

func TestSNPEndToEnd(t *testing.T) {
	id, fake := newSNPIdentity(t, false)
	der := selfSigned(t, id)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != CommonName {
		t.Fatalf("CN %q, want %q", cert.Subject.CommonName, CommonName)
	}
	c, err := attest.VerifySelfSigned(der, attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}})
	if err != nil {
		t.Fatalf("VerifySelfSigned: %v", err)
	}
	if c.Platform != attest.PlatformSNP || c.Insecure || c.Debug {
		t.Fatalf("claims platform %s insecure %t debug %t, want snp, secure, no debug", c.Platform, c.Insecure, c.Debug)
	}
	if c.ModuleDigest != module || c.ConfigDigest != config {
		t.Fatal("verified workload digests differ from the keep's")
	}
	if len(c.TCB) != 8 || len(c.Measurement) != 48 || len(c.PlatformID) != 64 {
		t.Fatalf("TCB %d, measurement %d, platform id %d bytes; want 8, 48, 64", len(c.TCB), len(c.Measurement), len(c.PlatformID))
	}
	// The certificate's key is the identity's.
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, id.PublicKeyDER()) {
		t.Fatal("certificate key is not the identity's")
	}
}

func TestSNPRejections(t *testing.T) {
	id, fake := newSNPIdentity(t, false)
	good := attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}}

	t.Run("wrong roots", func(t *testing.T) {
		// go-sev-guest's test chain has fixed keys, so another root is a
		// stranger's self-signed certificate.
		stranger := strangerCert(t)
		for name, roots := range map[string][]snp.Root{
			"AMD's real roots":   nil,
			"a stranger's ASK":   {{Product: snp.Milan, ARK: fake.Root.ARK, ASK: stranger}},
			"a stranger's chain": {{Product: snp.Milan, ARK: stranger, ASK: stranger}},
		} {
			_, err := attest.VerifySelfSigned(selfSigned(t, id), attest.VerifyOptions{Now: verifyAt, SNPRoots: roots})
			if !errors.Is(err, snp.ErrUntrustedChain) {
				t.Errorf("%s: %v, want ErrUntrustedChain", name, err)
			}
		}
	})

	t.Run("other key", func(t *testing.T) {
		// Same evidence and claims, signed by a key the evidence does not bind.
		der := resign(t, selfSigned(t, id), nil)
		if _, err := attest.VerifySelfSigned(der, good); !errors.Is(err, attest.ErrReportData) {
			t.Fatalf("VerifySelfSigned: %v, want ErrReportData", err)
		}
	})

	t.Run("flipped module digest", func(t *testing.T) {
		der := resign(t, selfSigned(t, id), func(c *attest.Claims) { c.ModuleDigest[0] ^= 1 })
		// Keep the key: resign swaps it, so re-bind by using the identity's own key.
		der = resignWith(t, der, id)
		if _, err := attest.VerifySelfSigned(der, good); !errors.Is(err, attest.ErrReportData) {
			t.Fatalf("VerifySelfSigned: %v, want ErrReportData", err)
		}
	})

	t.Run("stated claims differ from proven", func(t *testing.T) {
		der := resignWith(t, resign(t, selfSigned(t, id), func(c *attest.Claims) { c.Measurement[0] ^= 1 }), id)
		if _, err := attest.VerifySelfSigned(der, good); !errors.Is(err, attest.ErrSelfSigned) {
			t.Fatalf("VerifySelfSigned: %v, want ErrSelfSigned", err)
		}
	})

	t.Run("clock", func(t *testing.T) {
		der := selfSigned(t, id)
		for _, at := range []time.Time{issuedAt.Add(-time.Second), issuedAt.Add(3 * time.Hour)} {
			if _, err := attest.VerifySelfSigned(der, attest.VerifyOptions{Now: at, SNPRoots: good.SNPRoots}); !errors.Is(err, attest.ErrSelfSigned) {
				t.Errorf("at %s: %v, want ErrSelfSigned", at, err)
			}
		}
	})

	t.Run("signature", func(t *testing.T) {
		der := selfSigned(t, id)
		der[len(der)-5] ^= 1 // inside the signature
		if _, err := attest.VerifySelfSigned(der, good); err == nil {
			t.Fatal("a certificate with a damaged signature verified")
		}
	})
}

func TestSNPDebugRefused(t *testing.T) {
	id, fake := newSNPIdentity(t, true)
	der := selfSigned(t, id)
	opts := attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}}
	if _, err := attest.VerifySelfSigned(der, opts); !errors.Is(err, attest.ErrDebug) {
		t.Fatalf("debug guest without AllowDebug: %v, want ErrDebug", err)
	}
	opts.AllowDebug = true
	c, err := attest.VerifySelfSigned(der, opts)
	if err != nil || !c.Debug {
		t.Fatalf("debug guest with AllowDebug: %v, claims %+v; want accepted with Debug", err, c)
	}
}

func TestCSRCarriesEvidence(t *testing.T) {
	id, fake := newSNPIdentity(t, false)
	der, err := id.CSR()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	ev, err := attest.EvidenceFromCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	opts := attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}}
	c, err := attest.VerifyEvidence(*ev, csr.RawSubjectPublicKeyInfo, module, config, opts)
	if err != nil || c.Platform != attest.PlatformSNP {
		t.Fatalf("VerifyEvidence of the CSR's evidence: %v", err)
	}
	other := config
	other[31] ^= 1
	if _, err := attest.VerifyEvidence(*ev, csr.RawSubjectPublicKeyInfo, module, other, opts); !errors.Is(err, attest.ErrReportData) {
		t.Fatalf("VerifyEvidence with another config digest: %v, want ErrReportData", err)
	}
}

// tdxPlatform is a tee.Platform whose evidence is a quote from tdxtest's
// test PCK chain.
type tdxPlatform struct{ signer *tdxtest.Signer }

func (tdxPlatform) Name() tee.Backend { return tee.TDX }

func (p tdxPlatform) Evidence(_ context.Context, rd [tee.ReportDataSize]byte) (*tee.Evidence, error) {
	q := tdxtest.Quote{ReportData: rd}
	q.MRTD[0], q.TEETCBSVN[0] = 0x5a, 3
	quote, err := p.signer.Quote(q)
	if err != nil {
		return nil, err
	}
	return &tee.Evidence{Format: tee.FormatTDX, ReportData: rd, Report: quote}, nil
}

func (tdxPlatform) SealingKey(context.Context, string) ([]byte, error) {
	return nil, tee.ErrNoSealingKey
}

func TestTDXEndToEnd(t *testing.T) {
	signer, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := New(context.Background(), tdxPlatform{signer}, module, config)
	if err != nil {
		t.Fatal(err)
	}
	der := selfSigned(t, id)
	c, err := attest.VerifySelfSigned(der, attest.VerifyOptions{Now: verifyAt, TDXRoots: []*x509.Certificate{signer.Root}})
	if err != nil {
		t.Fatalf("VerifySelfSigned: %v", err)
	}
	if c.Platform != attest.PlatformTDX || c.Debug || c.Measurement[0] != 0x5a || c.TCB[0] != 3 || len(c.PlatformID) != 6 {
		t.Fatalf("claims %+v", c)
	}
	if _, err := attest.VerifySelfSigned(der, attest.VerifyOptions{Now: verifyAt}); !errors.Is(err, tdx.ErrUntrustedChain) {
		t.Fatalf("with Intel's real root: %v, want ErrUntrustedChain", err)
	}
}

func strangerCert(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SEV-Milan"},
		NotBefore: chainCreated, NotAfter: chainCreated.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// resign copies a certificate with its claims changed by edit (if not nil)
// and signs it with a fresh key, which the evidence does not bind.
func resign(t *testing.T, der []byte, edit func(*attest.Claims)) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return reissue(t, der, edit, key)
}

// resignWith re-signs der unchanged with the identity's own key.
func resignWith(t *testing.T, der []byte, id *Identity) []byte {
	t.Helper()
	return reissue(t, der, nil, id.key)
}

func reissue(t *testing.T, der []byte, edit func(*attest.Claims), key *ecdsa.PrivateKey) []byte {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	var exts []pkix.Extension
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(attest.OIDClaims):
			c, err := attest.ParseClaimsExtension(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			if edit != nil {
				edit(c)
			}
			if e, err = c.Extension(); err != nil {
				t.Fatal(err)
			}
			exts = append(exts, e)
		case e.Id.Equal(attest.OIDEvidence):
			exts = append(exts, e)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: cert.SerialNumber, Subject: cert.Subject, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		ExtraExtensions: exts,
	}
	out, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyCSR(t *testing.T) {
	id, fake := newSNPIdentity(t, false)
	der, err := id.CSR()
	if err != nil {
		t.Fatal(err)
	}
	opts := attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}}
	r, csr, err := attest.VerifyCSR(der, opts)
	if err != nil {
		t.Fatalf("VerifyCSR: %v", err)
	}
	if r.Source != attest.SourceEvidence || r.SNP == nil || r.Claims.Platform != attest.PlatformSNP ||
		r.Claims.ModuleDigest != module || r.Claims.ConfigDigest != config || r.Claims.Product != snp.Milan {
		t.Fatalf("result %+v, want SNP donjon evidence for the workload on Milan", r)
	}
	if !bytes.Equal(csr.RawSubjectPublicKeyInfo, id.PublicKeyDER()) {
		t.Fatal("VerifyCSR returned a request for another key")
	}

	// The real AMD roots do not trust the fake chain: authentic-looking but
	// not genuine, so not a malformed request.
	if _, _, err := attest.VerifyCSR(der, attest.VerifyOptions{Now: verifyAt}); err == nil || errors.Is(err, attest.ErrCSR) {
		t.Fatalf("VerifyCSR against the real roots: %v, want a verification failure that is not ErrCSR", err)
	}
	// Every byte of the request matters: flip a few spread over it.
	for _, at := range []int{len(der) / 5, len(der) / 2, len(der) - 80} {
		bad := bytes.Clone(der)
		bad[at] ^= 0x40
		if _, _, err := attest.VerifyCSR(bad, opts); err == nil {
			t.Errorf("VerifyCSR accepted a request with byte %d flipped", at)
		}
	}
	if _, _, err := attest.VerifyCSR([]byte("not a csr"), opts); !errors.Is(err, attest.ErrCSR) {
		t.Fatalf("garbage: %v, want ErrCSR", err)
	}
}

// csrWith signs a request for key carrying exts.
func csrWith(t *testing.T, key *ecdsa.PrivateKey, exts ...pkix.Extension) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "x"}, ExtraExtensions: exts}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerifyCSRRejects(t *testing.T) {
	id, fake := newSNPIdentity(t, false)
	opts := attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}}
	ev := id.Evidence()
	evExt, err := ev.Extension()
	if err != nil {
		t.Fatal(err)
	}
	stated, err := attest.DeclaredClaims(ev, module, config)
	if err != nil {
		t.Fatal(err)
	}
	otherConfig := *stated
	otherConfig.ConfigDigest[0] ^= 1
	otherConfigExt, _ := otherConfig.Extension()
	otherMeasurement := *stated
	otherMeasurement.Measurement = bytes.Repeat([]byte{7}, 48)
	otherMeasurementExt, _ := otherMeasurement.Extension()
	claimsExt, _ := stated.Extension()
	stranger, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)

	cases := map[string]struct {
		der  []byte
		want error
	}{
		"no evidence":             {csrWith(t, stranger), attest.ErrCSR},
		"no claims":               {csrWith(t, stranger, evExt), attest.ErrCSR},
		"evidence for other key":  {csrWith(t, stranger, evExt, claimsExt), attest.ErrReportData},
		"claims another config":   {csrWith(t, stranger, evExt, otherConfigExt), attest.ErrReportData},
		"two evidence extensions": {csrWith(t, stranger, evExt, pkix.Extension{Id: attest.OIDEnarxSNP, Value: []byte{5, 0}}), attest.ErrCSR},
		"enarx sgx garbage":       {csrWith(t, stranger, pkix.Extension{Id: attest.OIDEnarxSGX, Value: []byte{5, 0}}), attest.ErrCSR},
		"enarx kvm":               {csrWith(t, stranger, pkix.Extension{Id: attest.OIDEnarxKVM, Value: []byte{5, 0}}), attest.ErrUnsupported},
		"enarx snp garbage":       {csrWith(t, stranger, pkix.Extension{Id: attest.OIDEnarxSNP, Value: []byte{5, 0}}), attest.ErrCSR},
	}
	for name, tc := range cases {
		if _, _, err := attest.VerifyCSR(tc.der, opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// The keep's own key with a claims extension that states another
	// measurement than the evidence proves: binding holds, claims lie.
	lying := csrWith(t, id.key, evExt, otherMeasurementExt)
	if _, _, err := attest.VerifyCSR(lying, opts); !errors.Is(err, attest.ErrCSR) || !strings.Contains(err.Error(), "measurement") {
		t.Fatalf("lying claims: %v, want ErrCSR about the measurement", err)
	}

	nilID, err := New(context.Background(), tee.NilPlatform{}, module, config)
	if err != nil {
		t.Fatal(err)
	}
	nilCSR, err := nilID.CSR()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := attest.VerifyCSR(nilCSR, opts); !errors.Is(err, attest.ErrInsecure) {
		t.Fatalf("nil CSR: %v, want ErrInsecure", err)
	}
	opts.AllowInsecure = true
	if r, _, err := attest.VerifyCSR(nilCSR, opts); err != nil || !r.Claims.Insecure {
		t.Fatalf("nil CSR with AllowInsecure: %v", err)
	}
}

// testCA issues keep certificates the way a steward does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: chainCreated, NotAfter: chainCreated.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key}
}

func (ca *testCA) issue(t *testing.T, pub any, c *attest.Claims) *x509.Certificate {
	t.Helper()
	ext, err := c.Extension()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "keep"},
		NotBefore: issuedAt, NotAfter: issuedAt.Add(4 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ExtraExtensions: []pkix.Extension{ext},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestVerifyChain(t *testing.T) {
	id, fake := newSNPIdentity(t, false)
	self, err := x509.ParseCertificate(selfSigned(t, id))
	if err != nil {
		t.Fatal(err)
	}
	opts := attest.VerifyOptions{Now: verifyAt, SNPRoots: []snp.Root{fake.Root}}
	r, err := attest.VerifyChain([]*x509.Certificate{self}, opts)
	if err != nil || r.Source != attest.SourceEvidence || r.Claims.ModuleDigest != module {
		t.Fatalf("self-signed chain: %+v, %v", r, err)
	}

	ca := newTestCA(t, "steward CA")
	proven, _, err := attest.VerifyCSR(must(id.CSR()), opts)
	if err != nil {
		t.Fatal(err)
	}
	leaf := ca.issue(t, id.key.Public(), &proven.Claims)
	withCA := attest.VerifyOptions{Now: verifyAt, CAs: []*x509.Certificate{ca.cert}}
	for name, chain := range map[string][]*x509.Certificate{
		"pkipath order": {ca.cert, leaf},
		"tls order":     {leaf, ca.cert},
		"leaf only":     {leaf},
	} {
		r, err := attest.VerifyChain(chain, withCA)
		if err != nil || r.Source != attest.SourceSteward || r.Claims.Measurement == nil || !r.NotAfter.Equal(leaf.NotAfter) {
			t.Errorf("%s: %+v, %v", name, r, err)
		}
	}
	rejects := map[string]struct {
		chain []*x509.Certificate
		opts  attest.VerifyOptions
	}{
		"no CA trusted":  {[]*x509.Certificate{ca.cert, leaf}, attest.VerifyOptions{Now: verifyAt}},
		"other CA":       {[]*x509.Certificate{leaf}, attest.VerifyOptions{Now: verifyAt, CAs: []*x509.Certificate{newTestCA(t, "other").cert}}},
		"expired":        {[]*x509.Certificate{leaf}, attest.VerifyOptions{Now: leaf.NotAfter.Add(time.Second), CAs: withCA.CAs}},
		"no claims":      {[]*x509.Certificate{ca.cert}, withCA},
		"empty":          {nil, withCA},
		"self, no roots": {[]*x509.Certificate{self}, attest.VerifyOptions{Now: verifyAt}},
	}
	for name, tc := range rejects {
		if _, err := attest.VerifyChain(tc.chain, tc.opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// A steward certificate for a nil keep says insecure: refused unless allowed.
	nilClaims := &attest.Claims{Platform: attest.PlatformNil, Insecure: true, ModuleDigest: module, ConfigDigest: config}
	nilLeaf := ca.issue(t, id.key.Public(), nilClaims)
	if _, err := attest.VerifyChain([]*x509.Certificate{nilLeaf}, withCA); !errors.Is(err, attest.ErrInsecure) {
		t.Fatalf("insecure steward certificate: %v, want ErrInsecure", err)
	}
	withCA.AllowInsecure = true
	if r, err := attest.VerifyChain([]*x509.Certificate{nilLeaf}, withCA); err != nil || !r.Claims.Insecure {
		t.Fatalf("insecure steward certificate with AllowInsecure: %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
