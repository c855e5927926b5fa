package snp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func milanClaims(t *testing.T) *Claims {
	t.Helper()
	c, err := verifyMilan(t, readEvidence(t, "snp/milan-report.bin"), Options{Now: milanReportTime})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func TestCheckAcceptsMatchingPolicy(t *testing.T) {
	c := milanClaims(t)
	vmpl := c.VMPL
	p := Policy{
		AllowDebug:          true, // the captured guest was launched with debugging allowed
		MinTCB:              c.ReportedTCB,
		AllowedMeasurements: [][]byte{bytes.Repeat([]byte{0xaa}, 48), bytes.Clone(c.Measurement[:])},
		ReportData:          bytes.Clone(c.ReportData[:]),
		VMPL:                &vmpl,
	}
	if err := Check(c, p); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCheckRejectsEachRule(t *testing.T) {
	c := milanClaims(t)
	base := func() Policy { return Policy{AllowDebug: true} }
	otherVMPL := c.VMPL + 1
	wrongData := bytes.Clone(c.ReportData[:])
	wrongData[63] ^= 1

	tests := []struct {
		rule   string
		policy Policy
	}{
		{RuleDebug, Policy{}},
		{RuleMinTCB, func() Policy { p := base(); p.MinTCB.SNP = c.ReportedTCB.SNP + 1; return p }()},
		{RuleMinTCB, func() Policy { p := base(); p.MinTCB.Microcode = c.ReportedTCB.Microcode + 1; return p }()},
		{RuleMinTCB, func() Policy { p := base(); p.MinTCB.Bootloader = c.ReportedTCB.Bootloader + 1; return p }()},
		{RuleMinTCB, func() Policy { p := base(); p.MinTCB.TEE = c.ReportedTCB.TEE + 1; return p }()},
		{RuleMeasurement, func() Policy {
			p := base()
			p.AllowedMeasurements = [][]byte{bytes.Repeat([]byte{0xaa}, 48)}
			return p
		}()},
		{RuleReportData, func() Policy { p := base(); p.ReportData = wrongData; return p }()},
		{RuleReportData, func() Policy { p := base(); p.ReportData = c.ReportData[:32]; return p }()},
		{RuleVMPL, func() Policy { p := base(); p.VMPL = &otherVMPL; return p }()},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := Check(c, tt.policy)
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v, want a *PolicyError", err)
			}
			if pe.Rule != tt.rule {
				t.Errorf("rule = %q, want %q (%v)", pe.Rule, tt.rule, err)
			}
			if !strings.HasPrefix(err.Error(), "policy: "+tt.rule+": ") {
				t.Errorf("message %q does not name the rule", err)
			}
			if !errors.Is(err, ErrPolicy) {
				t.Errorf("error does not wrap ErrPolicy")
			}
		})
	}
}

func TestCheckDebugMessage(t *testing.T) {
	c := milanClaims(t)
	err := Check(c, Policy{})
	want := "policy: debug: guest policy allows debugging and the policy forbids it"
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v, want %q", err, want)
	}
	c.Policy.Debug = false
	if err := Check(c, Policy{}); err != nil {
		t.Fatalf("non-debug claims under the zero policy: %v", err)
	}
}
