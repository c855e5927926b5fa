package attest

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
)

// NilEvidenceHeader starts every piece of nil-backend evidence. It is plain
// text so that anyone who looks at the bytes reads what they are worth.
const NilEvidenceHeader = "donjon nil evidence v1: no hardware, this proves nothing\n"

// NilEvidenceSize is the exact size of nil evidence: the header followed by
// the 64 bytes of report data. Nothing signs it; there is nothing to sign with.
const NilEvidenceSize = len(NilEvidenceHeader) + ReportDataSize

var (
	// ErrNilEvidence means bytes are not nil-backend evidence.
	ErrNilEvidence = errors.New("attest: malformed nil evidence")
	// ErrInsecure means nil-backend evidence was offered without an explicit
	// permission to accept it.
	ErrInsecure = errors.New("attest: the keep runs on the nil backend, which has no hardware and protects nothing; accept it only for development, with --allow-insecure")
)

// NilEvidence is the nil backend's evidence for reportData.
func NilEvidence(reportData [ReportDataSize]byte) []byte {
	out := make([]byte, 0, NilEvidenceSize)
	out = append(out, NilEvidenceHeader...)
	return append(out, reportData[:]...)
}

// ParseNilEvidence returns the report data that evidence carries.
func ParseNilEvidence(evidence []byte) ([ReportDataSize]byte, error) {
	var rd [ReportDataSize]byte
	if !bytes.HasPrefix(evidence, []byte(NilEvidenceHeader)) {
		return rd, fmt.Errorf("%w: it does not start with %q", ErrNilEvidence, NilEvidenceHeader[:len(NilEvidenceHeader)-1])
	}
	if len(evidence) != NilEvidenceSize {
		return rd, fmt.Errorf("%w: %d bytes, want exactly %d", ErrNilEvidence, len(evidence), NilEvidenceSize)
	}
	copy(rd[:], evidence[len(NilEvidenceHeader):])
	return rd, nil
}

// VerifyNil checks nil-backend evidence. Without allowInsecure it always
// fails with ErrInsecure: such evidence is not signed by anything and says
// nothing about where the keep runs. With allowInsecure it checks only that
// the evidence carries reportData (see CheckReportData) and returns claims
// with Platform nil and Insecure set. The caller, who computed reportData,
// fills in ModuleDigest and ConfigDigest.
func VerifyNil(evidence []byte, reportData [ReportDataSize]byte, allowInsecure bool) (*Claims, error) {
	got, err := ParseNilEvidence(evidence)
	if err != nil {
		return nil, err
	}
	if !allowInsecure {
		return nil, ErrInsecure
	}
	if subtle.ConstantTimeCompare(got[:], reportData[:]) != 1 {
		return nil, fmt.Errorf("%w: nil evidence carries other report data", ErrReportData)
	}
	return &Claims{Platform: PlatformNil, Insecure: true}, nil
}
