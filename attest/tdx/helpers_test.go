package tdx

import (
	"donjon.dev/internal/testevidence"
	"errors"
	"testing"
	"time"
)

// sprNow is the pinned verification time of the real Sapphire Rapids quote (evidence README).
var sprNow = time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)

func readEvidence(t testing.TB, rel string) []byte { return testevidence.Read(t, rel) }

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
