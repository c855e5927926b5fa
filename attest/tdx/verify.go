// Package tdx verifies Intel TDX quotes (version 4, ECDSA P-256) and appraises their claims
// against a policy. It is a pure function of (quote bytes, trust anchors, clock, optional
// collateral): it never reads the clock or the network.
//
// Verification is done twice over: once by this package on the raw bytes (layout, PCK chain to a
// trusted root, QE report signature, QE report data binding of the attestation key, quote
// signature) so that failures are classified precisely, then by github.com/google/go-tdx-guest as
// an independent second opinion and, when collateral is given, for the TCB appraisal.
package tdx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"donjon.dev/attest/internal/intelpki"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
)

// Sentinel errors; every error Verify returns wraps at least one of them.
var (
	ErrMalformed      = errors.New("tdx: malformed quote")
	ErrUntrustedChain = errors.New("tdx: PCK certificate chain does not lead to a trusted root")
	ErrBadSignature   = errors.New("tdx: bad signature")
	ErrExpired        = errors.New("tdx: outside validity period")
	ErrRevoked        = errors.New("tdx: certificate revoked")
	ErrCollateral     = errors.New("tdx: invalid collateral")
	ErrTCB            = errors.New("tdx: TCB appraisal failed")
	ErrOptions        = errors.New("tdx: invalid verification options")
)

//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

var parseIntelRoot = sync.OnceValues(func() (*x509.Certificate, error) {
	block, _ := pem.Decode(intelRootPEM)
	if block == nil {
		return nil, errors.New("embedded Intel SGX Root CA is not PEM")
	}
	return x509.ParseCertificate(block.Bytes)
})

// IntelSGXRootCA returns the real Intel SGX Root CA certificate (the default trust anchor).
// Each call returns a fresh copy, so callers may keep or modify it.
func IntelSGXRootCA() (*x509.Certificate, error) {
	root, err := parseIntelRoot()
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(root.Raw)
}

// Options are the inputs of one verification besides the quote.
type Options struct {
	// Now is the verification time for certificates, CRLs and collateral. Required.
	Now time.Time
	// Roots are the trust anchors for the PCK chain and the collateral signing chain.
	// Empty means the real Intel SGX Root CA only.
	Roots []*x509.Certificate
	// Collateral is checked when given; nil means no revocation or TCB appraisal.
	Collateral *Collateral
}

// Collateral is Intel PCS collateral as raw bytes, checked offline.
type Collateral struct {
	// PCKCRL is the CRL of the PCK leaf's issuer (DER or PEM).
	PCKCRL []byte
	// RootCRL is the CRL of the root CA (DER or PEM).
	RootCRL []byte
	// TCBInfo is the TDX TCB info JSON as served by Intel PCS ({"tcbInfo":...,"signature":...}).
	TCBInfo []byte
	// QEIdentity is the TD QE identity JSON as served by Intel PCS ({"enclaveIdentity":...}).
	QEIdentity []byte
	// TCBSigningChain is the PEM chain that signs TCBInfo and QEIdentity (the
	// Tcb-Info-Issuer-Chain header: "Intel SGX TCB Signing" first). Required with them.
	TCBSigningChain []byte
}

// Claims are what a verified quote says. Byte slices are copies.
type Claims struct {
	TEETCBSVN      []byte // 16 bytes
	MRSEAM         []byte // 48 bytes: measurement of the TDX module
	MRSignerSEAM   []byte // 48 bytes
	SEAMAttributes []byte // 8 bytes
	TDAttributes   []byte // 8 bytes, little-endian
	Debug          bool   // TDATTRIBUTES.DEBUG (bit 0): the host can read and change the TD
	XFAM           []byte // 8 bytes
	MRTD           []byte // 48 bytes: launch measurement of the TD
	MRConfigID     []byte // 48 bytes
	MROwner        []byte // 48 bytes
	MROwnerConfig  []byte // 48 bytes
	RTMR           [4][]byte
	ReportData     []byte // 64 bytes
	QESVN          uint16
	PCESVN         uint16
	FMSPC          []byte // 6 bytes, from the PCK certificate
	// TCBStatus is "UpToDate" when TCB info and QE identity were given and matched;
	// empty when no TCB appraisal was done.
	TCBStatus string
}

// Verify checks a TDX quote v4 and returns its claims. It does not apply any policy: see Check.
func Verify(quote []byte, opts Options) (*Claims, error) {
	if opts.Now.IsZero() {
		return nil, fmt.Errorf("%w: Now is required (pass the verification time)", ErrOptions)
	}
	q, err := parseQuote(quote)
	if err != nil {
		return nil, err
	}
	roots := opts.Roots
	if len(roots) == 0 {
		intel, err := parseIntelRoot()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
		roots = []*x509.Certificate{intel}
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}

	leaf, intermediate, err := parsePCKChain(q.pckChainPEM)
	if err != nil {
		return nil, err
	}
	anchor, err := intelpki.VerifyChain(leaf, []*x509.Certificate{intermediate}, pool, opts.Now, "PCK certificate", ErrExpired, ErrUntrustedChain)
	if err != nil {
		return nil, err
	}
	exts, err := pcs.PckCertificateExtensions(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: PCK certificate SGX extensions: %v", ErrMalformed, err)
	}

	pckKey, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pckKey.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: PCK certificate key is not ECDSA P-256", ErrUntrustedChain)
	}
	if !intelpki.VerifyRaw(pckKey, q.qeReport, q.qeReportSig) {
		return nil, fmt.Errorf("%w: QE report signature does not verify with the PCK certificate", ErrBadSignature)
	}
	// The QE binds the attestation key: its report data is SHA-256(key || QE auth data) || 0*32.
	binding := sha256.Sum256(append(append([]byte{}, q.attestKey...), q.qeAuthData...))
	qeReportData := q.qeReport[320:384]
	if !bytes.Equal(qeReportData[:32], binding[:]) || !allZero(qeReportData[32:]) {
		return nil, fmt.Errorf("%w: QE report data does not bind the attestation key", ErrBadSignature)
	}
	attestKey, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, q.attestKey...))
	if err != nil {
		return nil, fmt.Errorf("%w: attestation key: %v", ErrMalformed, err)
	}
	if !intelpki.VerifyRaw(attestKey, q.headerAndBody, q.signature) {
		return nil, fmt.Errorf("%w: quote signature does not verify with the attestation key", ErrBadSignature)
	}

	// Second opinion from go-tdx-guest, with options built for this call only (it mutates them).
	parsed, err := quoteProto(quote)
	if err != nil {
		return nil, err
	}
	if err := verify.TdxQuote(parsed, &verify.Options{Now: opts.Now, TrustedRoots: pool}); err != nil {
		return nil, classifyLibraryError(err)
	}

	claims := claimsFrom(q)
	if claims.FMSPC, err = hex.DecodeString(exts.FMSPC); err != nil {
		return nil, fmt.Errorf("%w: PCK certificate FMSPC: %v", ErrMalformed, err)
	}
	if opts.Collateral != nil {
		status, err := checkCollateral(opts.Collateral, parsed, leaf, intermediate, anchor, pool, opts.Now)
		if err != nil {
			return nil, err
		}
		claims.TCBStatus = status
	}
	return claims, nil
}

// quoteProto runs go-tdx-guest's parser. parseQuote has already bounds-checked the layout;
// the recover is a last line of defence so that untrusted bytes can never crash a verifier.
func quoteProto(quote []byte) (parsed *pb.QuoteV4, err error) {
	defer func() {
		if r := recover(); r != nil {
			parsed, err = nil, fmt.Errorf("%w: quote parser failed: %v", ErrMalformed, r)
		}
	}()
	anyQuote, err := abi.QuoteToProto(quote)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	q, ok := anyQuote.(*pb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("%w: quote is %T, want a TDX quote v4", ErrMalformed, anyQuote)
	}
	return q, nil
}

// classifyLibraryError maps a go-tdx-guest failure that our own checks did not catch (its
// stricter rules on certificate names and algorithms) to a sentinel. go-tdx-guest formats its
// errors with %v, so only the message is left to go by.
func classifyLibraryError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "expired"):
		return fmt.Errorf("%w: %v", ErrExpired, err)
	case strings.Contains(msg, "signature"), errors.Is(err, verify.ErrHashVerificationFail):
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	default:
		return fmt.Errorf("%w: %v", ErrUntrustedChain, err)
	}
}

// parsePCKChain splits the PEM chain embedded in the quote. The third certificate (the root) is
// not trusted from the quote: the anchor comes from Options.Roots.
func parsePCKChain(chainPEM []byte) (leaf, intermediate *x509.Certificate, err error) {
	certs, err := intelpki.ParsePEMCerts(chainPEM, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: PCK certificate chain: %v", ErrMalformed, err)
	}
	if len(certs) != 3 {
		return nil, nil, fmt.Errorf("%w: PCK certificate chain has %d certificates, want 3 (leaf, intermediate, root)", ErrMalformed, len(certs))
	}
	return certs[0], certs[1], nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func claimsFrom(q *rawQuote) *Claims {
	body := q.body
	field := func(off, n int) []byte { return bytes.Clone(body[off : off+n]) }
	c := &Claims{
		TEETCBSVN:      field(bodyTEETCBSVN, 16),
		MRSEAM:         field(bodyMRSEAM, 48),
		MRSignerSEAM:   field(bodyMRSignerSEAM, 48),
		SEAMAttributes: field(bodySEAMAttrs, 8),
		TDAttributes:   field(bodyTDAttributes, 8),
		XFAM:           field(bodyXFAM, 8),
		MRTD:           field(bodyMRTD, 48),
		MRConfigID:     field(bodyMRConfigID, 48),
		MROwner:        field(bodyMROwner, 48),
		MROwnerConfig:  field(bodyMROwnerConfig, 48),
		ReportData:     field(bodyReportData, 64),
		PCESVN:         binary.LittleEndian.Uint16(q.header[8:10]),
		QESVN:          binary.LittleEndian.Uint16(q.header[10:12]),
	}
	for i := range c.RTMR {
		c.RTMR[i] = field(bodyRTMR0+48*i, 48)
	}
	c.Debug = c.TDAttributes[0]&1 != 0
	return c
}
