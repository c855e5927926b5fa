package sgx

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policy is what a relying party demands of verified SGX claims. The zero Policy accepts an
// authentic, non-debug enclave on an UpToDate platform (so it needs collateral).
type Policy struct {
	// AllowDebug accepts an enclave with ATTRIBUTES.DEBUG set (development only: a debugger can
	// read and change its memory).
	AllowDebug bool
	// AllowedTCBStatus lists acceptable TCB statuses; empty means StatusUpToDate only.
	AllowedTCBStatus []string
	// AllowedAdvisoryIDs, when non-nil, lists the Intel advisories tolerated: claims citing any
	// other advisory are rejected. Nil tolerates whatever the accepted TCB status implies.
	AllowedAdvisoryIDs []string
	// AllowUnappraised accepts claims verified without collateral (no TCB status): the
	// platform may then be at any TCB, however old.
	AllowUnappraised bool
	// MRENCLAVE and MRSIGNER list acceptable values (32 bytes each); empty accepts any.
	MRENCLAVE, MRSIGNER [][]byte
	// ISVProdID, when non-nil, is the only acceptable product ID.
	ISVProdID *uint16
	// MinISVSVN is the lowest acceptable enclave security version.
	MinISVSVN uint16
	// ReportData, when non-nil, must be exactly 64 bytes and equal the quote's.
	ReportData []byte
}

// Policy rule names, as they appear in PolicyError.Rule and in messages.
const (
	RuleDebug      = "debug"
	RuleTCBStatus  = "tcb-status"
	RuleAdvisory   = "advisory"
	RuleMRENCLAVE  = "mrenclave"
	RuleMRSIGNER   = "mrsigner"
	RuleISVProdID  = "isv-prod-id"
	RuleMinISVSVN  = "min-isv-svn"
	RuleReportData = "report-data"
	RuleClaims     = "claims"
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

// Check appraises claims returned by Verify against p and returns the first rule they fail,
// as a *PolicyError, or nil.
func Check(c *Claims, p Policy) error {
	if c == nil {
		return reject(RuleClaims, "no verified claims (call Verify first)")
	}
	if c.Debug && !p.AllowDebug {
		return reject(RuleDebug, "the enclave runs in debug mode (ATTRIBUTES.DEBUG is set), so a debugger can read and change it; sign it for production, or allow debug for development only")
	}
	if err := checkTCBStatus(c, p); err != nil {
		return err
	}
	if len(p.MRENCLAVE) > 0 && !containsBytes(p.MRENCLAVE, c.MRENCLAVE) {
		return reject(RuleMRENCLAVE, "MRENCLAVE %s is not among the %d allowed", hex.EncodeToString(c.MRENCLAVE), len(p.MRENCLAVE))
	}
	if len(p.MRSIGNER) > 0 && !containsBytes(p.MRSIGNER, c.MRSIGNER) {
		return reject(RuleMRSIGNER, "MRSIGNER %s is not among the %d allowed", hex.EncodeToString(c.MRSIGNER), len(p.MRSIGNER))
	}
	if p.ISVProdID != nil && c.ISVProdID != *p.ISVProdID {
		return reject(RuleISVProdID, "enclave ISVPRODID is %d, the policy requires %d", c.ISVProdID, *p.ISVProdID)
	}
	if c.ISVSVN < p.MinISVSVN {
		return reject(RuleMinISVSVN, "enclave ISVSVN is %d, the policy requires at least %d", c.ISVSVN, p.MinISVSVN)
	}
	if p.ReportData != nil {
		if len(p.ReportData) != 64 || len(c.ReportData) != 64 {
			return reject(RuleReportData, "the policy's report data is %d bytes, want 64: fix the policy", len(p.ReportData))
		}
		if subtle.ConstantTimeCompare(p.ReportData, c.ReportData) != 1 {
			return reject(RuleReportData, "report data does not match the expected value")
		}
	}
	return nil
}

func checkTCBStatus(c *Claims, p Policy) error {
	if c.TCBStatus == "" {
		if p.AllowUnappraised {
			return nil
		}
		return reject(RuleTCBStatus, "the TCB was not appraised (verified without TCB info); supply Intel PCS collateral, or allow unappraised TCB")
	}
	allowed := p.AllowedTCBStatus
	if len(allowed) == 0 {
		allowed = []string{StatusUpToDate}
	}
	if !slices.Contains(allowed, c.TCBStatus) {
		return reject(RuleTCBStatus, "TCB status is %s (advisories %s), the policy accepts %s", c.TCBStatus, strings.Join(c.AdvisoryIDs, ", "), strings.Join(allowed, ", "))
	}
	if p.AllowedAdvisoryIDs != nil {
		for _, a := range c.AdvisoryIDs {
			if !slices.Contains(p.AllowedAdvisoryIDs, a) {
				return reject(RuleAdvisory, "the platform is exposed to %.60q, which the policy does not tolerate", a)
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
