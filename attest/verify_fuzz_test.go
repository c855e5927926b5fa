package attest_test

// The fuzz targets here need real keeps (package identity, which imports
// attest) and a real steward, so they live in the external test package.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"donjon.dev/internal/testevidence"
	"encoding/asn1"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/sgx"
	"donjon.dev/attest/snp"
	"donjon.dev/identity"
	"donjon.dev/steward"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

// fuzzAt is when everything is verified: inside the validity of the Enarx
// CSRs' CRLs and collateral (see shared/testdata/evidence/README.md) and of
// the fake devices' test chains, so that every seed can verify.
var fuzzAt = time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC)

// keeps are the seeds' keeps: one per backend (and debug mode), with their
// keys, so that the fuzz functions can re-sign what they mutate.
type keeps struct {
	opts attest.VerifyOptions
	ids  map[string]*identity.Identity
	// signers holds each keep's key by its SubjectPublicKeyInfo DER.
	signers map[string]crypto.Signer
}

func newKeeps(tb testing.TB) *keeps {
	tb.Helper()
	created := fuzzAt.AddDate(0, -2, 0)
	fakeSNP, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: created})
	if err != nil {
		tb.Fatal(err)
	}
	debugSNP, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: created, Debug: true})
	if err != nil {
		tb.Fatal(err)
	}
	fakeTDX, err := teetest.NewFakeTDX(teetest.TDXOptions{Created: created})
	if err != nil {
		tb.Fatal(err)
	}
	k := &keeps{
		// The real AMD roots too, for the Enarx CSR captured on a Milan;
		// SGXRoots nil is the real Intel root, for the Enarx SGX CSR, whose
		// platform Intel rates OutOfDate.
		opts: attest.VerifyOptions{
			Now:      fuzzAt,
			SNPRoots: append(snp.DefaultRoots(), fakeSNP.Root, debugSNP.Root),
			TDXRoots: []*x509.Certificate{fakeTDX.Root},
			SGXTCBStatus: []string{sgx.StatusUpToDate, sgx.StatusSWHardeningNeeded, sgx.StatusConfigurationNeeded,
				sgx.StatusConfigurationAndSWHardeningNeeded, sgx.StatusOutOfDate, sgx.StatusOutOfDateConfigurationNeeded},
			AllowInsecure: true,
			AllowDebug:    true,
		},
		ids:     map[string]*identity.Identity{},
		signers: map[string]crypto.Signer{},
	}
	module := sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00"))
	config := sha256.Sum256([]byte("[[files]]\nkind = \"stdout\"\n"))
	for name, platform := range map[string]tee.Platform{
		"snp":       tee.NewSNP(fakeSNP.Client),
		"snp-debug": tee.NewSNP(debugSNP.Client),
		"tdx":       tee.NewTDX(fakeTDX.Client),
		"nil":       tee.NilPlatform{},
	} {
		id, err := identity.New(context.Background(), platform, module, config)
		if err != nil {
			tb.Fatalf("identity on %s: %v", name, err)
		}
		k.ids[name] = id
		k.signers[string(id.PublicKeyDER())] = id.Signer()
	}
	return k
}

// names lists the keeps in a fixed order, for reproducible seeds.
func (k *keeps) names() []string { return []string{"nil", "snp", "snp-debug", "tdx"} }

// evidenceFile reads captured evidence from shared/testdata/evidence, found
// in a parent directory of the package.
func evidenceFile(tb testing.TB, name string) []byte {
	tb.Helper()
	return testevidence.Read(tb, name)
}

// signedDER is the outer shape of both a certificate and a PKCS#10
// request: the signed body, the algorithm, the signature.
type signedDER struct {
	Body      asn1.RawValue
	Algorithm asn1.RawValue
	Signature asn1.BitString
}

// resign signs der's body again with signer (ECDSA P-384 with SHA-384, as
// every key here is), so that a mutated body still carries a valid
// signature and the fuzzer reaches what lies behind the signature check.
func resign(tb testing.TB, der []byte, signer crypto.Signer) []byte {
	tb.Helper()
	var s signedDER
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) != 0 {
		return der // not that shape: x509 parsed it leniently; leave it be
	}
	digest := sha512.Sum384(s.Body.FullBytes)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA384)
	if err != nil {
		tb.Fatal(err)
	}
	s.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	out, err := asn1.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// checkError requires a verifier's error to be a clear single line.
func checkError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("error is not one non-empty line: %q", msg)
	}
}

// FuzzVerifyCSR feeds certificate requests to VerifyCSR as a steward
// receives them. With resign set, a request whose key is one of the seed
// keeps' is signed again after mutation, so that the evidence and claims
// parsers and the platform verifiers behind the signature check are
// reached. It must never panic, fail with one line, and whatever it
// accepts must bind the request's key.
func FuzzVerifyCSR(f *testing.F) {
	k := newKeeps(f)
	for _, name := range k.names() {
		csr, err := k.ids[name].CSR()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(csr, false)
		f.Add(csr, true)
		f.Add(csr[:len(csr)/2], false)
	}
	f.Add(evidenceFile(f, "enarx/snp-milan.csr"), false)
	f.Add(evidenceFile(f, "enarx/sgx-icelake-i5.csr"), false)
	f.Add([]byte{}, false)
	f.Add([]byte{0x30, 0x00}, false)
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, der []byte, resigned bool) {
		if resigned {
			if csr, err := x509.ParseCertificateRequest(der); err == nil {
				if signer, ok := k.signers[string(csr.RawSubjectPublicKeyInfo)]; ok {
					der = resign(t, der, signer)
				}
			}
		}
		r, csr, err := attest.VerifyCSR(der, k.opts)
		if err != nil {
			if r != nil || csr != nil {
				t.Fatal("results returned with an error")
			}
			checkError(t, err)
			return
		}
		if r == nil || csr == nil {
			t.Fatal("no result and no error")
		}
		if !bytes.Equal(csr.Raw, der) {
			t.Fatal("the returned request is not the one given")
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a request its key did not sign: %v", err)
		}
		checkClaims(t, &r.Claims)
		spki := csr.RawSubjectPublicKeyInfo
		switch r.Source {
		case attest.SourceEvidence:
			var reportData []byte
			switch r.Claims.Platform {
			case attest.PlatformNil:
				ev, err := attest.EvidenceFromCSR(csr)
				if err != nil {
					t.Fatalf("accepted nil evidence that does not parse: %v", err)
				}
				rd, err := attest.ParseNilEvidence(ev.Report)
				if err != nil {
					t.Fatalf("accepted nil evidence that does not parse: %v", err)
				}
				reportData = rd[:]
			case attest.PlatformSNP:
				reportData = r.SNP.ReportData[:]
			case attest.PlatformTDX:
				reportData = r.TDX.ReportData
			}
			want := attest.ReportData(spki, r.Claims.ModuleDigest, r.Claims.ConfigDigest)
			if !bytes.Equal(reportData, want[:]) {
				t.Fatalf("accepted %s evidence that does not bind the request's key and workload", r.Claims.Platform)
			}
		case attest.SourceEnarxSNP:
			// Enarx binds the key alone: REPORT_DATA starts with its SHA-384.
			want := sha512.Sum384(spki)
			if r.SNP == nil || !bytes.Equal(r.SNP.ReportData[:48], want[:]) || r.Claims.WorkloadBound() {
				t.Fatal("accepted Enarx SNP evidence that does not bind the request's key")
			}
		case attest.SourceEnarxSGX:
			// REPORTDATA starts with the SHA-256 of the key.
			want := sha256.Sum256(spki)
			if r.SGX == nil || len(r.SGX.ReportData) < 32 || !bytes.Equal(r.SGX.ReportData[:32], want[:]) || r.Claims.WorkloadBound() {
				t.Fatal("accepted Enarx SGX evidence that does not bind the request's key")
			}
			if r.SGX.TCBStatus == sgx.StatusRevoked {
				t.Fatal("accepted a revoked SGX platform")
			}
		default:
			t.Fatalf("claims from a request rest on %q", r.Source)
		}
	})
}

// checkClaims requires accepted claims to be consistent and to fit in a
// certificate as they are.
func checkClaims(t *testing.T, c *attest.Claims) {
	t.Helper()
	if c.Insecure != (c.Platform == attest.PlatformNil) {
		t.Fatalf("claims for platform %s with insecure=%t", c.Platform, c.Insecure)
	}
	der, err := c.Marshal()
	if err != nil {
		t.Fatalf("accepted claims do not marshal: %v", err)
	}
	if _, err := attest.ParseClaimsExtension(der); err != nil {
		t.Fatalf("accepted claims do not parse back: %v", err)
	}
}

// maxFuzzChain is how many certificates FuzzVerifyChain splits its input
// into.
const maxFuzzChain = 3

// splitChain cuts fuzz input into up to maxFuzzChain pieces: each but the
// last is preceded by its length (2 bytes, big-endian), the last is what
// remains.
func splitChain(b []byte) [][]byte {
	var pieces [][]byte
	for len(b) > 0 && len(pieces) < maxFuzzChain {
		if len(pieces) == maxFuzzChain-1 || len(b) < 2 {
			pieces = append(pieces, b)
			break
		}
		n := min(int(binary.BigEndian.Uint16(b)), len(b)-2)
		pieces = append(pieces, b[2:2+n])
		b = b[2+n:]
	}
	return pieces
}

// joinChain is the input splitChain cuts into certs.
func joinChain(tb testing.TB, certs ...[]byte) []byte {
	tb.Helper()
	if len(certs) > maxFuzzChain {
		tb.Fatalf("%d certificates, at most %d", len(certs), maxFuzzChain)
	}
	var b []byte
	for i, c := range certs {
		if i < maxFuzzChain-1 {
			b = binary.BigEndian.AppendUint16(b, uint16(len(c)))
		}
		b = append(b, c...)
	}
	return b
}

// FuzzVerifyChain feeds chains of up to three certificates to VerifyChain,
// trusting a steward's CA. With resign set, certificates issued by that CA
// are signed again by it after mutation, and self-signed keep certificates
// by their keep, so that the fuzzer reaches the claims and evidence behind
// the signatures. It must never panic, fail with one line, and whatever it
// accepts must come from a keep certificate carrying claims.
func FuzzVerifyChain(f *testing.F) {
	k := newKeeps(f)
	ca, chain := stewardChain(f, k)
	opts := k.opts
	opts.CAs = []*x509.Certificate{ca.Cert}
	caSigner := ca.Key
	for _, name := range k.names() {
		der, err := k.ids[name].SelfSigned(fuzzAt.Add(-time.Hour), 2*time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(joinChain(f, der), false)
		f.Add(joinChain(f, der), true)
		f.Add(joinChain(f, der, ca.Cert.Raw), false)
	}
	f.Add(joinChain(f, chain...), false)
	f.Add(joinChain(f, chain...), true)
	f.Add(joinChain(f, chain[1], chain[0]), false)
	f.Add(joinChain(f, chain[1]), true)
	f.Add(joinChain(f, chain[0], chain[1], chain[1]), false)
	f.Add(joinChain(f, ca.Cert.Raw), false)
	f.Add([]byte{}, false)
	f.Add([]byte{0, 2, 0x30, 0x00, 0x30, 0x00}, true)
	f.Fuzz(func(t *testing.T, b []byte, resigned bool) {
		var certs []*x509.Certificate
		for _, der := range splitChain(b) {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				continue // the rest of the chain is still worth verifying
			}
			if resigned {
				signer := k.signers[string(c.RawSubjectPublicKeyInfo)]
				if bytes.Equal(c.RawIssuer, ca.Cert.RawSubject) {
					signer = caSigner
				}
				if signer != nil {
					if c, err = x509.ParseCertificate(resign(t, der, signer)); err != nil {
						t.Fatalf("a certificate does not parse once signed again: %v", err)
					}
				}
			}
			certs = append(certs, c)
		}
		r, err := attest.VerifyChain(certs, opts)
		if err != nil {
			if r != nil {
				t.Fatal("a result returned with an error")
			}
			checkError(t, err)
			return
		}
		if r == nil {
			t.Fatal("no result and no error")
		}
		var leaf *x509.Certificate
		for _, c := range certs {
			if _, err := attest.ClaimsFromCertificate(c); err == nil && !c.IsCA {
				if leaf != nil {
					t.Fatal("accepted a chain with two keep certificates")
				}
				leaf = c
			}
		}
		if leaf == nil {
			t.Fatal("accepted a chain without a keep certificate carrying claims")
		}
		if !r.NotAfter.Equal(leaf.NotAfter) || opts.Now.Before(leaf.NotBefore) || opts.Now.After(leaf.NotAfter) {
			t.Fatalf("accepted a keep certificate valid from %s to %s at %s (result says until %s)", leaf.NotBefore, leaf.NotAfter, opts.Now, r.NotAfter)
		}
		checkClaims(t, &r.Claims)
		stated, err := attest.ClaimsFromCertificate(leaf)
		if err != nil {
			t.Fatal(err)
		}
		switch r.Source {
		case attest.SourceEvidence:
			if len(certs) != 1 || !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
				t.Fatalf("claims from evidence in a chain of %d certificates", len(certs))
			}
			if stated.Platform != r.Claims.Platform || stated.ModuleDigest != r.Claims.ModuleDigest || stated.ConfigDigest != r.Claims.ConfigDigest {
				t.Fatal("a self-signed certificate states other claims than it proves")
			}
		case attest.SourceSteward:
			got, _ := r.Claims.Marshal()
			want, _ := stated.Marshal()
			if !bytes.Equal(got, want) {
				t.Fatal("the result's claims are not the steward's")
			}
		default:
			t.Fatalf("claims from a chain rest on %q", r.Source)
		}
	})
}

// stewardChain has a real steward certify the SNP keep and returns the
// steward's CA and the PkiPath's certificates (CA first, keep last).
func stewardChain(tb testing.TB, k *keeps) (*steward.CA, [][]byte) {
	tb.Helper()
	dir := tb.TempDir()
	issuedAt := fuzzAt.Add(-time.Hour)
	ca, _, err := steward.LoadOrCreateCA(dir, "fuzz steward CA", issuedAt.Add(-time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	lg, err := steward.OpenLog(context.Background(), filepath.Join(dir, steward.LogFile))
	if err != nil {
		tb.Fatal(err)
	}
	defer lg.Close()
	pol, err := policy.Parse([]byte("platforms = [\"nil\", \"snp\", \"tdx\"]\nallow_debug = true\n[workload]\nany_module = true\n"), "fuzz.toml")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := steward.New(steward.Config{CA: ca, Policy: pol, Log: lg, SNPRoots: k.opts.SNPRoots, TDXRoots: k.opts.TDXRoots,
		Now: func() time.Time { return issuedAt }})
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := k.ids["snp"].CSR()
	if err != nil {
		tb.Fatal(err)
	}
	path, _, err := s.Issue(context.Background(), csr, "fuzz")
	if err != nil {
		tb.Fatalf("the steward refused the SNP keep: %v", err)
	}
	var raws []asn1.RawValue
	if rest, err := asn1.Unmarshal(path, &raws); err != nil || len(rest) != 0 || len(raws) != 2 {
		tb.Fatalf("the steward's answer is not a PkiPath of 2 certificates: %v", err)
	}
	return ca, [][]byte{raws[0].FullBytes, raws[1].FullBytes}
}
