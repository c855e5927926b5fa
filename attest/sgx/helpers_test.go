package sgx

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Pinned verification times of the real evidence (evidence README).
var (
	oasisNow = time.Unix(1671497404, 0).UTC() // 2022-12-20T00:50:04Z
	enarxNow = time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC)
)

// evidenceDir finds shared/testdata/evidence beside the repository by walking up from the
// working directory. The real evidence is required: its absence fails the test.
func evidenceDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "testdata", "evidence")
		if st, err := os.Stat(candidate); err == nil && st.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("real evidence not found: no shared/testdata/evidence in any parent of the working directory")
		}
		dir = parent
	}
}

func readEvidence(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(evidenceDir(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemCerts(t testing.TB, data []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("no PEM certificates")
	}
	return certs
}

// oasisCollateral is the Intel PCS collateral captured beside the oasis-core quote.
func oasisCollateral(t testing.TB) *Collateral {
	return &Collateral{
		TCBInfo:         readEvidence(t, "sgx/tcb_info_v3_fmspc_00606A000000.json"),
		QEIdentity:      readEvidence(t, "sgx/qe_identity_v2.json"),
		TCBSigningChain: pemCerts(t, readEvidence(t, "sgx/tcb_info_v3_fmspc_00606A000000_certs.pem")),
	}
}

// enarxCSR reads the real Enarx SGX CSR and returns it with its evidence extension value.
func enarxCSR(t testing.TB) (*x509.CertificateRequest, []byte) {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(readEvidence(t, "enarx/sgx-icelake-i5.csr"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range csr.Extensions {
		if e.Id.Equal(EnarxExtensionOID) {
			return csr, e.Value
		}
	}
	t.Fatal("Enarx SGX CSR has no SGX evidence extension")
	return nil, nil
}

var sentinels = []error{ErrMalformed, ErrUntrustedChain, ErrBadSignature, ErrExpired, ErrRevoked, ErrCollateral, ErrTCB, ErrOptions}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// wantErr fails unless err wraps want.
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want an error wrapping %v", err, want)
	}
}
