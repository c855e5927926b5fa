package tdx

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest/tdx/tdxtest"
)

// fakeClaims verifies a fake quote made from q, so that policy tests run on real Verify output.
func fakeClaims(t *testing.T, q tdxtest.Quote) *Claims {
	t.Helper()
	signer, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	quote, err := signer.Quote(q)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := Verify(quote, Options{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Roots: []*x509.Certificate{signer.Root}})
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// wantRule fails unless err is a policy rejection by rule, with the "policy: <rule>: " prefix.
func wantRule(t *testing.T, err error, rule string) {
	t.Helper()
	var pe *PolicyError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPolicy) {
		t.Fatalf("got %v, want a policy error for rule %q", err, rule)
	}
	if pe.Rule != rule || !strings.HasPrefix(err.Error(), "policy: "+rule+": ") {
		t.Fatalf("got rule %q (%v), want %q", pe.Rule, err, rule)
	}
}

func TestPolicyDebugRejectedByDefault(t *testing.T) {
	claims := fakeClaims(t, tdxtest.Quote{TDAttributes: [8]byte{tdxtest.AttributeDebug}})
	if !claims.Debug {
		t.Fatal("debug attribute not reported")
	}
	wantRule(t, Check(claims, Policy{}), "debug")
	if err := Check(claims, Policy{AllowDebug: true}); err != nil {
		t.Fatalf("AllowDebug: %v", err)
	}
}

func TestPolicyRules(t *testing.T) {
	var q tdxtest.Quote
	copy(q.MRTD[:], bytes.Repeat([]byte{0x4d}, 48))
	copy(q.ReportData[:], "bound key digest")
	q.TEETCBSVN = [16]byte{3, 0, 4}
	claims := fakeClaims(t, q)

	otherMRTD := bytes.Repeat([]byte{0x4e}, 48)
	otherData := bytes.Clone(q.ReportData[:])
	otherData[63] = 1
	minOK := make([]byte, 16)
	minOK[0], minOK[2] = 3, 4
	minHigh := bytes.Clone(minOK)
	minHigh[2] = 5

	for _, tc := range []struct {
		name   string
		policy Policy
		rule   string // "" means accepted
	}{
		{"zero policy", Policy{}, ""},
		{"mrtd allowed", Policy{AllowedMRTD: [][]byte{otherMRTD, q.MRTD[:]}}, ""},
		{"mrtd not allowed", Policy{AllowedMRTD: [][]byte{otherMRTD}}, "mrtd"},
		{"report data equal", Policy{ReportData: q.ReportData[:]}, ""},
		{"report data differs", Policy{ReportData: otherData}, "report data"},
		{"report data wrong length", Policy{ReportData: q.ReportData[:32]}, "report data"},
		{"tcb svn at minimum", Policy{MinTEETCBSVN: minOK}, ""},
		{"tcb svn below minimum", Policy{MinTEETCBSVN: minHigh}, "tee tcb svn"},
		{"tcb svn minimum wrong length", Policy{MinTEETCBSVN: minOK[:4]}, "tee tcb svn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(claims, tc.policy)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			wantRule(t, err, tc.rule)
		})
	}
	wantRule(t, Check(nil, Policy{}), "claims")
}
