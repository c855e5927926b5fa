package snp

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// enarxCSR parses the captured Enarx CSR, checks its self-signature and
// returns it with the value of its SNP evidence extension.
func enarxCSR(t testing.TB) (*x509.CertificateRequest, []byte) {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(readEvidence(t, "enarx/snp-milan.csr"))
	if err != nil {
		t.Fatalf("parsing CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(EnarxExtensionOID) {
			return csr, ext.Value
		}
	}
	t.Fatalf("CSR has no extension %v", EnarxExtensionOID)
	return nil, nil
}

func TestEnarxCSR(t *testing.T) {
	csr, value := enarxCSR(t)
	report, vcek, crls, err := ParseEnarxEvidence(value)
	if err != nil {
		t.Fatalf("ParseEnarxEvidence: %v", err)
	}
	if len(report) != 1184 {
		t.Errorf("report is %d bytes", len(report))
	}
	if len(crls) != 2 {
		t.Errorf("got %d CRLs, want 2 (Genoa and Milan)", len(crls))
	}
	c, err := Verify(report, vcek, Options{Now: enarxCSRTime, CRLs: crls, RequireCRL: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := EnarxBinding(csr, c); err != nil {
		t.Errorf("EnarxBinding: %v", err)
	}
	if c.Product != Milan || c.Version != 2 {
		t.Errorf("Product %q version %d, want Milan v2", c.Product, c.Version)
	}
	// Firmware 1.51 per the evidence README.
	if c.CurrentFirmware.Major != 1 || c.CurrentFirmware.Minor != 51 {
		t.Errorf("CurrentFirmware = %v, want 1.51.x", c.CurrentFirmware)
	}
	if c.CommittedFirmware != c.CurrentFirmware {
		t.Errorf("CommittedFirmware %v != CurrentFirmware %v", c.CommittedFirmware, c.CurrentFirmware)
	}
	if c.ReportedTCB.SNP == 0 || c.ReportedTCB.Microcode == 0 {
		t.Errorf("ReportedTCB implausible: %v", c.ReportedTCB)
	}
	if c.CurrentTCB.SNP < c.ReportedTCB.SNP {
		t.Errorf("current TCB %v below reported %v", c.CurrentTCB, c.ReportedTCB)
	}
	t.Logf("claims: product=%s firmware=%s reported TCB %v debug=%v vmpl=%d", c.Product, c.CurrentFirmware, c.ReportedTCB, c.Policy.Debug, c.VMPL)
}

func TestEnarxCSRFailures(t *testing.T) {
	csr, value := enarxCSR(t)
	report, vcek, crls, err := ParseEnarxEvidence(value)
	if err != nil {
		t.Fatalf("ParseEnarxEvidence: %v", err)
	}
	t.Run("CRL expired", func(t *testing.T) {
		_, err := Verify(report, vcek, Options{Now: time.Date(2023, 5, 10, 0, 0, 0, 0, time.UTC), CRLs: crls})
		if !errors.Is(err, ErrExpired) {
			t.Fatalf("err = %v, want ErrExpired", err)
		}
	})
	t.Run("CRL tampered", func(t *testing.T) {
		milan := milanCRL(t, crls)
		forged, err := x509.ParseRevocationList(milan.Raw)
		if err != nil {
			t.Fatal(err)
		}
		forged.Signature = bytes.Clone(forged.Signature)
		forged.Signature[10] ^= 1
		_, err = Verify(report, vcek, Options{Now: enarxCSRTime, CRLs: []*x509.RevocationList{forged}})
		if !errors.Is(err, ErrUntrustedChain) {
			t.Fatalf("err = %v, want ErrUntrustedChain", err)
		}
	})
	t.Run("ASK revoked", func(t *testing.T) {
		milan := milanCRL(t, crls)
		revoking, err := x509.ParseRevocationList(milan.Raw)
		if err != nil {
			t.Fatal(err)
		}
		var ask *x509.Certificate
		for _, r := range DefaultRoots() {
			if r.Product == Milan {
				ask = r.ASK
			}
		}
		// The signature still covers the original list; revocation is
		// checked on the parsed entries, so this exercises that path.
		revoking.RevokedCertificateEntries = append(revoking.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: ask.SerialNumber, RevocationTime: enarxCSRTime})
		_, err = Verify(report, vcek, Options{Now: enarxCSRTime, CRLs: []*x509.RevocationList{revoking}})
		if !errors.Is(err, ErrRevoked) {
			t.Fatalf("err = %v, want ErrRevoked", err)
		}
	})
	t.Run("only another product's CRL", func(t *testing.T) {
		var genoa []*x509.RevocationList
		for _, crl := range crls {
			if crl.Issuer.CommonName == "ARK-Genoa" {
				genoa = append(genoa, crl)
			}
		}
		if len(genoa) != 1 {
			t.Fatalf("want one Genoa CRL, got %d", len(genoa))
		}
		_, err := Verify(report, vcek, Options{Now: enarxCSRTime, CRLs: genoa, RequireCRL: true})
		if !errors.Is(err, ErrNoCRL) {
			t.Fatalf("err = %v, want ErrNoCRL", err)
		}
	})
	t.Run("binding to another key", func(t *testing.T) {
		c, err := Verify(report, vcek, Options{Now: enarxCSRTime, CRLs: crls})
		if err != nil {
			t.Fatal(err)
		}
		other := *csr
		other.RawSubjectPublicKeyInfo = bytes.Clone(csr.RawSubjectPublicKeyInfo)
		other.RawSubjectPublicKeyInfo[len(other.RawSubjectPublicKeyInfo)-1] ^= 1
		if err := EnarxBinding(&other, c); !errors.Is(err, ErrBinding) {
			t.Fatalf("err = %v, want ErrBinding", err)
		}
	})
}

func milanCRL(t *testing.T, crls []*x509.RevocationList) *x509.RevocationList {
	t.Helper()
	for _, crl := range crls {
		if crl.Issuer.CommonName == "ARK-Milan" {
			return crl
		}
	}
	t.Fatal("no CRL from ARK-Milan in the CSR")
	return nil
}

func TestParseEnarxEvidenceRejects(t *testing.T) {
	_, value := enarxCSR(t)
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": value[:len(value)/2],
		"trailing":  append(bytes.Clone(value), 0),
		"not asn1":  []byte("hello"),
		"huge":      make([]byte, maxEnarxEvidence+1),
	}
	for name, in := range cases {
		if _, _, _, err := ParseEnarxEvidence(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
