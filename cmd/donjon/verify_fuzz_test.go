package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"donjon.dev/internal/testevidence"
	"encoding/asn1"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/snp"
	"donjon.dev/identity"
	"donjon.dev/tee"
)

// FuzzEvidenceKinds feeds arbitrary TARGET bytes to detectEvidence and
// parseChain, which verify uses to decide what it was given. Neither may
// panic; their answers must agree with each other and with the bytes
// (a TDX header means a quote, 1184 bytes a report, a parsed chain a
// chain, a DER CSR is never a chain, a CSR kind comes with its CSR and
// matches its evidence extensions), and every error is one line.
func FuzzEvidenceKinds(f *testing.F) {
	for _, name := range []string{"enarx/snp-milan.csr", "enarx/sgx-icelake-i5.csr", "enarx/milan.pkipath",
		"enarx/sgx-root.der", "tdx/spr-e4-quote.dat", "snp/milan-report.bin", "snp/milan-vcek.der"} {
		f.Add(fuzzEvidenceFile(f, name))
	}
	id, err := identity.New(context.Background(), tee.NilPlatform{}, [32]byte{1}, [32]byte{2})
	if err != nil {
		f.Fatal(err)
	}
	cert, err := id.SelfSigned(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	csr, err := id.CSR()
	if err != nil {
		f.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
	pkiPath, err := asn1.Marshal([]asn1.RawValue{{FullBytes: cert}, {FullBytes: cert}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert)
	f.Add(certPEM)
	f.Add(append(bytes.Clone(certPEM), certPEM...))
	f.Add(append(bytes.Clone(certPEM), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert[:len(cert)-1]}))
	f.Add(pkiPath)
	f.Add(csr)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: id.PublicKeyDER()}))
	f.Add([]byte{4, 0, 2, 0, 0x81, 0, 0, 0})
	f.Add(make([]byte, snpReportSize))
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	kinds := []string{kindTDXQuote, kindSNPReport, kindKeepChain, kindKeepCSR, kindEnarxSNPCSR, kindEnarxSGXCSR}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, ok, perr := parseChain(data)
		switch {
		case !ok && (certs != nil || perr != nil):
			t.Fatalf("parseChain: not a chain, yet %d certificates and error %v", len(certs), perr)
		case perr != nil && certs != nil:
			t.Fatal("parseChain: certificates returned with an error")
		case perr != nil:
			oneLineError(t, "parseChain", perr)
		case ok && (len(certs) == 0 || slices.Contains(certs, nil)):
			t.Fatalf("parseChain: a chain of %d certificates, some nil", len(certs))
		}

		kind, csr, err := detectEvidence(data)
		if err != nil {
			if kind != "" || csr != nil {
				t.Fatalf("detectEvidence: kind %q returned with an error", kind)
			}
			oneLineError(t, "detectEvidence", err)
		} else if !slices.Contains(kinds, kind) {
			t.Fatalf("detectEvidence: unknown kind %q", kind)
		}
		if again, _, _ := detectEvidence(data); again != kind {
			t.Fatalf("detectEvidence: kind %q, then %q", kind, again)
		}
		tdx := isTDXQuote(data)
		switch {
		case tdx != (kind == kindTDXQuote):
			t.Fatalf("a TDX quote header (%t) detected as %q", tdx, kind)
		case !tdx && (len(data) == snpReportSize) != (kind == kindSNPReport):
			t.Fatalf("%d bytes detected as %q", len(data), kind)
		case !tdx && len(data) != snpReportSize && ok != (kind == kindKeepChain):
			t.Fatalf("parseChain says chain=%t, detectEvidence %q", ok, kind)
		}
		// A DER CSR is a CSR, whatever text it carries inside (an Enarx SGX
		// CSR holds Intel's PEM certificates).
		if _, err := x509.ParseCertificateRequest(data); err == nil && kind == kindKeepChain {
			t.Fatal("a DER certificate request detected as a certificate chain")
		}
		switch kind {
		case kindKeepCSR, kindEnarxSNPCSR, kindEnarxSGXCSR:
			if csr == nil {
				t.Fatalf("kind %q without its CSR", kind)
			}
			// The first donjon or Enarx SGX evidence extension decides;
			// Enarx SNP evidence only counts without either.
			want := ""
			for _, ext := range csr.Extensions {
				switch {
				case want == "" && ext.Id.Equal(attest.OIDEvidence):
					want = kindKeepCSR
				case want == "" && ext.Id.Equal(attest.OIDEnarxSGX):
					want = kindEnarxSGXCSR
				}
			}
			if want == "" && slices.ContainsFunc(csr.Extensions, func(ext pkix.Extension) bool { return ext.Id.Equal(snp.EnarxExtensionOID) }) {
				want = kindEnarxSNPCSR
			}
			if kind != want {
				t.Fatalf("a CSR detected as %q; its evidence extensions make it %q", kind, want)
			}
			// verify hands csr.Raw on: it must be the request itself.
			if again, err := x509.ParseCertificateRequest(csr.Raw); err != nil || !bytes.Equal(again.RawTBSCertificateRequest, csr.RawTBSCertificateRequest) {
				t.Fatalf("the detected CSR's bytes do not parse back: %v", err)
			}
		default:
			if csr != nil {
				t.Fatalf("kind %q with a CSR", kind)
			}
		}
	})
}

func oneLineError(t *testing.T, what string, err error) {
	t.Helper()
	if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s: error is not one non-empty line: %q", what, msg)
	}
}

// fuzzEvidenceFile reads a file of shared/testdata/evidence, found above
// the package.
func fuzzEvidenceFile(tb testing.TB, name string) []byte {
	tb.Helper()
	return testevidence.Read(tb, name)
}
