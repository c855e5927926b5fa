package sgx

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

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

// fakeClaims verifies a fake quote made from q with UpToDate collateral, so that policy tests
// run on real Verify output.
func fakeClaims(t *testing.T, q fakeQuote) *Claims {
	t.Helper()
	pki := newFakePKI(t, fakeConfig{})
	col := &Collateral{
		TCBInfo:         pki.tcbInfo(t, []fakeLevel{{status: StatusUpToDate}}, fakeNow.Add(-time.Hour), fakeNow.Add(time.Hour)),
		TCBSigningChain: []*x509.Certificate{pki.tcbSigner},
	}
	claims, err := Verify(pki.quote(t, q), Options{Now: fakeNow, Roots: []*x509.Certificate{pki.root}, Collateral: col})
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestPolicy(t *testing.T) {
	prod := uint16(7)
	base := fakeQuote{mrEnclave: [32]byte{0xe1}, mrSigner: [32]byte{0x51}, isvProdID: 7, isvSVN: 3, reportData: [64]byte{9}}
	claims := fakeClaims(t, base)
	if claims.TCBStatus != StatusUpToDate {
		t.Fatalf("fake claims have TCB status %q", claims.TCBStatus)
	}
	if err := Check(claims, Policy{}); err != nil {
		t.Fatalf("zero policy rejects an UpToDate production enclave: %v", err)
	}
	match := Policy{
		MRENCLAVE:  [][]byte{make([]byte, 32), claims.MRENCLAVE},
		MRSIGNER:   [][]byte{claims.MRSIGNER},
		ISVProdID:  &prod,
		MinISVSVN:  3,
		ReportData: claims.ReportData,
	}
	if err := Check(claims, match); err != nil {
		t.Fatalf("matching policy: %v", err)
	}

	debugQuote := base
	debugQuote.attributes[0] = 0x05 | attributeDebug
	debug := fakeClaims(t, debugQuote)
	if !debug.Debug {
		t.Fatal("debug attribute not reported")
	}
	other := uint16(8)
	cases := []struct {
		name   string
		claims *Claims
		policy Policy
		rule   string
	}{
		{"nil claims", nil, Policy{}, RuleClaims},
		{"debug", debug, Policy{}, RuleDebug},
		{"mrenclave", claims, Policy{MRENCLAVE: [][]byte{make([]byte, 32)}}, RuleMRENCLAVE},
		{"mrsigner", claims, Policy{MRSIGNER: [][]byte{claims.MRENCLAVE}}, RuleMRSIGNER},
		{"isv prod id", claims, Policy{ISVProdID: &other}, RuleISVProdID},
		{"min isv svn", claims, Policy{MinISVSVN: 4}, RuleMinISVSVN},
		{"report data", claims, Policy{ReportData: make([]byte, 64)}, RuleReportData},
		{"report data size", claims, Policy{ReportData: make([]byte, 32)}, RuleReportData},
		{"tcb status", claims, Policy{AllowedTCBStatus: []string{StatusOutOfDate}}, RuleTCBStatus},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantRule(t, Check(c.claims, c.policy), c.rule)
		})
	}
	if err := Check(debug, Policy{AllowDebug: true}); err != nil {
		t.Errorf("AllowDebug rejects a debug enclave: %v", err)
	}
}
