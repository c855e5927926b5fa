package tdx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sprNow is the pinned verification time of the real Sapphire Rapids quote (evidence README).
var sprNow = time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)

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

func sprCollateral(t testing.TB) *Collateral {
	return &Collateral{
		PCKCRL:     readEvidence(t, "tdx/pckcrl.der"),
		RootCRL:    readEvidence(t, "tdx/rootcrl.der"),
		TCBInfo:    readEvidence(t, "tdx/tcbinfo.json"),
		QEIdentity: readEvidence(t, "tdx/qeidentity.json"),
		// Intel signs SGX and TDX TCB info and QE identity with the same "Intel SGX TCB Signing"
		// certificate; this chain was captured beside the SGX collateral.
		TCBSigningChain: readEvidence(t, "sgx/tcb_info_v3_fmspc_00606A000000_certs.pem"),
	}
}

var sentinels = []error{ErrMalformed, ErrUntrustedChain, ErrBadSignature, ErrExpired, ErrRevoked, ErrCollateral, ErrTCB, ErrOptions}

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
