package sgx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"donjon.dev/attest/internal/intelpki"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TCB statuses Intel PCS assigns to a TCB level, and that Verify reports.
const (
	StatusUpToDate                          = "UpToDate"
	StatusSWHardeningNeeded                 = "SWHardeningNeeded"
	StatusConfigurationNeeded               = "ConfigurationNeeded"
	StatusConfigurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
	StatusOutOfDate                         = "OutOfDate"
	StatusOutOfDateConfigurationNeeded      = "OutOfDateConfigurationNeeded"
	StatusRevoked                           = "Revoked"
)

var knownStatus = map[string]bool{
	StatusUpToDate: true, StatusSWHardeningNeeded: true, StatusConfigurationNeeded: true,
	StatusConfigurationAndSWHardeningNeeded: true, StatusOutOfDate: true,
	StatusOutOfDateConfigurationNeeded: true, StatusRevoked: true,
}

// Bounds for untrusted collateral: real TCB info is about 5 KB with a dozen levels.
const (
	maxCollateralJSON = 256 << 10
	maxTCBLevels      = 256
	maxAdvisories     = 256
)

// tcbInfo is the part of an Intel PCS SGX TCB info (version 3) that verification uses.
type tcbInfo struct {
	ID         string    `json:"id"`
	Version    int       `json:"version"`
	IssueDate  time.Time `json:"issueDate"`
	NextUpdate time.Time `json:"nextUpdate"`
	FMSPC      string    `json:"fmspc"`
	PCEID      string    `json:"pceId"`
	TCBType    int       `json:"tcbType"`
	TCBLevels  []struct {
		TCB struct {
			SGXTCBComponents []struct {
				SVN *int `json:"svn"`
			} `json:"sgxtcbcomponents"`
			PCESVN *int `json:"pcesvn"`
		} `json:"tcb"`
		TCBDate     time.Time `json:"tcbDate"`
		TCBStatus   string    `json:"tcbStatus"`
		AdvisoryIDs []string  `json:"advisoryIDs"`
	} `json:"tcbLevels"`
}

// qeIdentity is the part of an Intel PCS QE identity (version 2) that verification uses.
type qeIdentity struct {
	ID             string    `json:"id"`
	Version        int       `json:"version"`
	IssueDate      time.Time `json:"issueDate"`
	NextUpdate     time.Time `json:"nextUpdate"`
	MiscSelect     string    `json:"miscselect"`
	MiscSelectMask string    `json:"miscselectMask"`
	Attributes     string    `json:"attributes"`
	AttributesMask string    `json:"attributesMask"`
	MRSigner       string    `json:"mrsigner"`
	ISVProdID      *int      `json:"isvprodid"`
	TCBLevels      []struct {
		TCB struct {
			ISVSVN *int `json:"isvsvn"`
		} `json:"tcb"`
		TCBDate     time.Time `json:"tcbDate"`
		TCBStatus   string    `json:"tcbStatus"`
		AdvisoryIDs []string  `json:"advisoryIDs"`
	} `json:"tcbLevels"`
}

// tcbLevel is the outcome of matching one TCB: which level, its status and advisories.
type tcbLevel struct {
	status     string
	date       time.Time
	advisories []string
}

// signedBody checks an Intel PCS response {"<field>": {...}, "signature": "<hex r||s>"}: the
// ECDSA P-256 signature over the exact bytes of the field, made by signer. It returns the
// field's bytes.
func signedBody(data []byte, field string, signer *ecdsa.PublicKey) ([]byte, error) {
	if len(data) > maxCollateralJSON {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrCollateral, field, len(data), maxCollateralJSON)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCollateral, field, err)
	}
	body, ok := doc[field]
	if !ok {
		return nil, fmt.Errorf("%w: %s: field missing (is this the right collateral document?)", ErrCollateral, field)
	}
	var sigHex string
	if err := json.Unmarshal(doc["signature"], &sigHex); err != nil {
		return nil, fmt.Errorf("%w: %s: signature: %v", ErrCollateral, field, err)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: signature: %v", ErrCollateral, field, err)
	}
	if signer == nil || signer.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: TCB signing key is not ECDSA P-256", ErrCollateral)
	}
	if !intelpki.VerifyRaw(signer, body, sig) {
		return nil, fmt.Errorf("%w: %w: %s signature does not verify with the TCB signing certificate", ErrCollateral, ErrBadSignature, field)
	}
	return body, nil
}

func checkWindow(what string, issue, next, now time.Time) error {
	if issue.IsZero() || next.IsZero() {
		return fmt.Errorf("%w: %s has no issueDate or nextUpdate", ErrCollateral, what)
	}
	if now.Before(issue) || now.After(next) {
		return fmt.Errorf("%w: %w: %s is valid from %s to %s, not at %s; fetch current collateral", ErrCollateral, ErrExpired, what,
			issue.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// matchTCBInfo checks signed TCB info (body already authenticated) against the PCK
// certificate's FMSPC, PCE ID and TCB, and returns the first (highest) level the platform meets.
func matchTCBInfo(body []byte, ext *pckExtensions, now time.Time) (tcbLevel, error) {
	var info tcbInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return tcbLevel{}, fmt.Errorf("%w: tcbInfo: %v", ErrCollateral, err)
	}
	if info.ID != "SGX" || info.Version != 3 {
		return tcbLevel{}, fmt.Errorf("%w: tcbInfo id %q version %d, want SGX TCB info version 3", ErrCollateral, info.ID, info.Version)
	}
	if info.TCBType != 0 {
		return tcbLevel{}, fmt.Errorf("%w: tcbInfo tcbType %d, only 0 is defined", ErrCollateral, info.TCBType)
	}
	if err := checkWindow("tcbInfo", info.IssueDate, info.NextUpdate, now); err != nil {
		return tcbLevel{}, err
	}
	if !hexEqual(info.FMSPC, ext.fmspc) {
		return tcbLevel{}, fmt.Errorf("%w: tcbInfo is for FMSPC %.20q, the PCK certificate has %X; fetch the TCB info for this platform", ErrCollateral, info.FMSPC, ext.fmspc)
	}
	if !hexEqual(info.PCEID, ext.pceID) {
		return tcbLevel{}, fmt.Errorf("%w: tcbInfo is for PCE ID %.20q, the PCK certificate has %X", ErrCollateral, info.PCEID, ext.pceID)
	}
	if len(info.TCBLevels) == 0 || len(info.TCBLevels) > maxTCBLevels {
		return tcbLevel{}, fmt.Errorf("%w: tcbInfo has %d TCB levels, want 1 to %d", ErrCollateral, len(info.TCBLevels), maxTCBLevels)
	}
	// Intel lists levels from highest to lowest; the first one the platform is at or above
	// in every component and in PCESVN is its level.
	for i, level := range info.TCBLevels {
		comps := level.TCB.SGXTCBComponents
		if len(comps) != 16 || level.TCB.PCESVN == nil {
			return tcbLevel{}, fmt.Errorf("%w: tcbInfo level %d has %d SGX TCB components (want 16) or no pcesvn", ErrCollateral, i, len(comps))
		}
		if err := checkLevel(i, level.TCBStatus, level.AdvisoryIDs); err != nil {
			return tcbLevel{}, err
		}
		meets := *level.TCB.PCESVN <= int(ext.tcb.PCESVN)
		for j, c := range comps {
			if c.SVN == nil {
				return tcbLevel{}, fmt.Errorf("%w: tcbInfo level %d component %d has no svn", ErrCollateral, i, j)
			}
			if *c.SVN > int(ext.tcb.Components[j]) {
				meets = false
			}
		}
		if meets {
			return tcbLevel{status: level.TCBStatus, date: level.TCBDate, advisories: level.AdvisoryIDs}, nil
		}
	}
	return tcbLevel{}, fmt.Errorf("%w: no TCB level of FMSPC %X matches the PCK certificate's TCB (components %x, PCESVN %d): the platform TCB is not supported", ErrTCB, ext.fmspc, ext.tcb.Components, ext.tcb.PCESVN)
}

func checkLevel(i int, status string, advisories []string) error {
	if !knownStatus[status] {
		return fmt.Errorf("%w: TCB level %d has unknown status %.40q", ErrCollateral, i, status)
	}
	if len(advisories) > maxAdvisories {
		return fmt.Errorf("%w: TCB level %d lists %d advisories, limit %d", ErrCollateral, i, len(advisories), maxAdvisories)
	}
	return nil
}

// matchQEIdentity checks the QE report against signed QE identity (body already authenticated)
// and returns the QE's TCB level.
func matchQEIdentity(body []byte, qe report, now time.Time) (tcbLevel, error) {
	var id qeIdentity
	if err := json.Unmarshal(body, &id); err != nil {
		return tcbLevel{}, fmt.Errorf("%w: enclaveIdentity: %v", ErrCollateral, err)
	}
	if id.ID != "QE" || id.Version != 2 {
		return tcbLevel{}, fmt.Errorf("%w: enclaveIdentity id %.20q version %d, want the SGX QE identity version 2", ErrCollateral, id.ID, id.Version)
	}
	if err := checkWindow("enclaveIdentity", id.IssueDate, id.NextUpdate, now); err != nil {
		return tcbLevel{}, err
	}
	misc, err1 := hex.DecodeString(id.MiscSelect)
	miscMask, err2 := hex.DecodeString(id.MiscSelectMask)
	attrs, err3 := hex.DecodeString(id.Attributes)
	attrsMask, err4 := hex.DecodeString(id.AttributesMask)
	mrSigner, err5 := hex.DecodeString(id.MRSigner)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil ||
		len(misc) != 4 || len(miscMask) != 4 || len(attrs) != 16 || len(attrsMask) != 16 || len(mrSigner) != 32 || id.ISVProdID == nil {
		return tcbLevel{}, fmt.Errorf("%w: enclaveIdentity: miscselect, attributes, their masks, mrsigner or isvprodid missing or malformed", ErrCollateral)
	}
	if !bytes.Equal(qe.mrSigner, mrSigner) {
		return tcbLevel{}, fmt.Errorf("%w: QE MRSIGNER %x is not the one QE identity names (%x)", ErrTCB, qe.mrSigner, mrSigner)
	}
	if int(qe.isvProdID) != *id.ISVProdID {
		return tcbLevel{}, fmt.Errorf("%w: QE ISVPRODID %d, QE identity wants %d", ErrTCB, qe.isvProdID, *id.ISVProdID)
	}
	// MISCSELECT is a number in the report (little-endian) and a big-endian hex string here.
	wantMisc := uint32(misc[0])<<24 | uint32(misc[1])<<16 | uint32(misc[2])<<8 | uint32(misc[3])
	mask := uint32(miscMask[0])<<24 | uint32(miscMask[1])<<16 | uint32(miscMask[2])<<8 | uint32(miscMask[3])
	if qe.miscSelect&mask != wantMisc {
		return tcbLevel{}, fmt.Errorf("%w: QE MISCSELECT %08x under mask %08x is not %08x", ErrTCB, qe.miscSelect, mask, wantMisc)
	}
	for i := range attrs {
		if qe.attributes[i]&attrsMask[i] != attrs[i] {
			return tcbLevel{}, fmt.Errorf("%w: QE ATTRIBUTES %x under mask %x are not %x", ErrTCB, qe.attributes, attrsMask, attrs)
		}
	}
	if len(id.TCBLevels) == 0 || len(id.TCBLevels) > maxTCBLevels {
		return tcbLevel{}, fmt.Errorf("%w: enclaveIdentity has %d TCB levels, want 1 to %d", ErrCollateral, len(id.TCBLevels), maxTCBLevels)
	}
	for i, level := range id.TCBLevels {
		if level.TCB.ISVSVN == nil {
			return tcbLevel{}, fmt.Errorf("%w: enclaveIdentity level %d has no isvsvn", ErrCollateral, i)
		}
		if err := checkLevel(i, level.TCBStatus, level.AdvisoryIDs); err != nil {
			return tcbLevel{}, err
		}
		if *level.TCB.ISVSVN <= int(qe.isvSVN) {
			return tcbLevel{status: level.TCBStatus, date: level.TCBDate, advisories: level.AdvisoryIDs}, nil
		}
	}
	return tcbLevel{}, fmt.Errorf("%w: QE ISVSVN %d is below every level of the QE identity", ErrTCB, qe.isvSVN)
}

// convergeStatus combines the platform's and the QE's TCB status as Intel's quote verification
// library does: an out-of-date QE makes an otherwise current platform out of date, and a
// revoked QE revokes everything.
func convergeStatus(platform, qe string) string {
	switch qe {
	case StatusRevoked:
		return StatusRevoked
	case StatusOutOfDate:
		switch platform {
		case StatusUpToDate, StatusSWHardeningNeeded:
			return StatusOutOfDate
		case StatusConfigurationNeeded, StatusConfigurationAndSWHardeningNeeded:
			return StatusOutOfDateConfigurationNeeded
		}
	}
	return platform
}

// mergeAdvisories returns the advisory IDs of both lists once each, in first-seen order.
func mergeAdvisories(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, a := range l {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

func hexEqual(s string, b []byte) bool {
	d, err := hex.DecodeString(s)
	return err == nil && bytes.Equal(d, b) && strings.TrimSpace(s) == s
}
