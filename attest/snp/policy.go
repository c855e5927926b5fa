package snp

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
)

// Policy is what a verifier demands of verified claims. The zero Policy
// still forbids debugging; every other rule is off until set.
type Policy struct {
	// AllowDebug accepts guests whose launch policy lets the host debug them.
	AllowDebug bool
	// MinTCB is the lowest acceptable REPORTED_TCB, part by part; zero parts
	// accept anything. Raw is ignored.
	MinTCB TCB
	// AllowedMeasurements lists acceptable launch measurements (48 bytes
	// each); empty accepts any.
	AllowedMeasurements [][]byte
	// ReportData, when non-nil, must be exactly 64 bytes and equal the report's.
	ReportData []byte
	// VMPL, when non-nil, is the only acceptable VM privilege level.
	VMPL *uint32
}

// Policy rule names, as they appear in PolicyError.Rule and in messages.
const (
	RuleDebug       = "debug"
	RuleMinTCB      = "min-tcb"
	RuleMeasurement = "measurement"
	RuleReportData  = "report-data"
	RuleVMPL        = "vmpl"
)

// ErrPolicy is wrapped by every PolicyError.
var ErrPolicy = errors.New("policy")

// PolicyError names the rule the claims failed.
type PolicyError struct {
	Rule   string
	Reason string
}

func (e *PolicyError) Error() string { return "policy: " + e.Rule + ": " + e.Reason }

// Is makes errors.Is(err, ErrPolicy) true for every rejection.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

func reject(rule, format string, args ...any) error {
	return &PolicyError{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// Check appraises verified claims against p and returns the first rule they
// fail, as a *PolicyError, or nil.
func Check(c *Claims, p Policy) error {
	if c == nil {
		return errors.New("policy: no claims to check")
	}
	if c.Policy.Debug && !p.AllowDebug {
		return reject(RuleDebug, "guest policy allows debugging and the policy forbids it")
	}
	if err := checkMinTCB(c.ReportedTCB, p.MinTCB); err != nil {
		return err
	}
	if len(p.AllowedMeasurements) > 0 {
		allowed := false
		for _, m := range p.AllowedMeasurements {
			if bytes.Equal(m, c.Measurement[:]) {
				allowed = true
				break
			}
		}
		if !allowed {
			return reject(RuleMeasurement, "launch measurement %s is not in the policy's %d allowed measurements",
				hex.EncodeToString(c.Measurement[:]), len(p.AllowedMeasurements))
		}
	}
	if p.ReportData != nil {
		if len(p.ReportData) != len(c.ReportData) {
			return reject(RuleReportData, "the policy's report data is %d bytes, want %d: fix the policy", len(p.ReportData), len(c.ReportData))
		}
		if subtle.ConstantTimeCompare(p.ReportData, c.ReportData[:]) != 1 {
			return reject(RuleReportData, "report data does not match the expected value")
		}
	}
	if p.VMPL != nil && c.VMPL != *p.VMPL {
		return reject(RuleVMPL, "report comes from VMPL %d, the policy requires VMPL %d", c.VMPL, *p.VMPL)
	}
	return nil
}

func checkMinTCB(got, min TCB) error {
	parts := []struct {
		name     string
		got, min uint8
	}{
		{"bootloader", got.Bootloader, min.Bootloader},
		{"tee", got.TEE, min.TEE},
		{"snp", got.SNP, min.SNP},
		{"microcode", got.Microcode, min.Microcode},
		{"fmc", got.FMC, min.FMC},
	}
	for _, part := range parts {
		if part.got < part.min {
			return reject(RuleMinTCB, "reported TCB has %s %d, the policy requires at least %d", part.name, part.got, part.min)
		}
	}
	return nil
}
