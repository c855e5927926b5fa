package tdx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrPolicy is wrapped by every policy rejection; errors.As with *PolicyError gives the rule.
var ErrPolicy = errors.New("policy")

// PolicyError names the rule that rejected verified claims.
type PolicyError struct {
	Rule   string // "debug", "mrtd", "report data", "tee tcb svn", "claims"
	Reason string
}

func (e *PolicyError) Error() string { return "policy: " + e.Rule + ": " + e.Reason }

// Is makes errors.Is(err, ErrPolicy) true for every policy rejection.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// Policy is what a relying party demands of verified TDX claims. The zero Policy accepts any
// authentic non-debug TD.
type Policy struct {
	// AllowDebug accepts a TD with TDATTRIBUTES.DEBUG set (development only: the host can read
	// and change such a TD's memory).
	AllowDebug bool
	// AllowedMRTD lists acceptable launch measurements (48 bytes each); empty accepts any.
	AllowedMRTD [][]byte
	// ReportData, when set, must equal the quote's 64-byte report data.
	ReportData []byte
	// MinTEETCBSVN, when set (16 bytes), is a per-component minimum for the TEE TCB SVN.
	MinTEETCBSVN []byte
}

// Check applies p to claims returned by Verify; the error names the rule that failed.
func Check(c *Claims, p Policy) error {
	if c == nil {
		return &PolicyError{Rule: "claims", Reason: "no verified claims (call Verify first)"}
	}
	if c.Debug && !p.AllowDebug {
		return &PolicyError{Rule: "debug", Reason: "the TD runs in debug mode (TDATTRIBUTES.DEBUG is set), so the host can read and change it; rebuild it without debug, or allow debug for development only"}
	}
	if len(p.AllowedMRTD) > 0 && !containsBytes(p.AllowedMRTD, c.MRTD) {
		return &PolicyError{Rule: "mrtd", Reason: fmt.Sprintf("launch measurement %s is not in the %d allowed", hex.EncodeToString(c.MRTD), len(p.AllowedMRTD))}
	}
	if p.ReportData != nil {
		if len(p.ReportData) != 64 {
			return &PolicyError{Rule: "report data", Reason: fmt.Sprintf("policy value is %d bytes, want 64", len(p.ReportData))}
		}
		if !bytes.Equal(p.ReportData, c.ReportData) {
			return &PolicyError{Rule: "report data", Reason: fmt.Sprintf("quote binds %s, want %s", hex.EncodeToString(c.ReportData), hex.EncodeToString(p.ReportData))}
		}
	}
	if p.MinTEETCBSVN != nil {
		if len(p.MinTEETCBSVN) != len(c.TEETCBSVN) {
			return &PolicyError{Rule: "tee tcb svn", Reason: fmt.Sprintf("policy minimum is %d bytes, want %d", len(p.MinTEETCBSVN), len(c.TEETCBSVN))}
		}
		for i, minimum := range p.MinTEETCBSVN {
			if c.TEETCBSVN[i] < minimum {
				return &PolicyError{Rule: "tee tcb svn", Reason: fmt.Sprintf("component %d is %d, policy minimum is %d (TEE TCB SVN %s)", i, c.TEETCBSVN[i], minimum, hex.EncodeToString(c.TEETCBSVN))}
			}
		}
	}
	return nil
}

func containsBytes(set [][]byte, v []byte) bool {
	for _, s := range set {
		if bytes.Equal(s, v) {
			return true
		}
	}
	return false
}
