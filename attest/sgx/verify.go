// Package sgx verifies Intel SGX DCAP quotes (version 3, ECDSA P-256, PCK certificate chain
// embedded) and appraises their claims against a policy. It is a pure function of (quote bytes,
// trust anchors, clock, optional CRLs and collateral): it never reads the clock or the network.
//
// go-tdx-guest verifies TDX quotes only, so this package parses and checks SGX quotes itself:
// PCK chain to a trusted root, CRLs, QE report signature, the QE's binding of the attestation
// key, the quote signature and, with Intel PCS collateral, the TCB level of the platform and of
// the quoting enclave. See docs/attest-sgx.md.
package sgx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"donjon.dev/attest/internal/intelpki"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"donjon.dev/attest/tdx"
)

// Sentinel errors; every error Verify returns wraps at least one of them.
var (
	ErrMalformed      = errors.New("sgx: malformed quote")
	ErrUntrustedChain = errors.New("sgx: certificate chain does not lead to a trusted root")
	ErrBadSignature   = errors.New("sgx: bad signature")
	ErrExpired        = errors.New("sgx: outside validity period")
	ErrRevoked        = errors.New("sgx: revoked")
	ErrCollateral     = errors.New("sgx: invalid collateral")
	ErrTCB            = errors.New("sgx: TCB appraisal failed")
	ErrOptions        = errors.New("sgx: invalid verification options")
)

// Subject common names Intel gives the certificates of the PCK and TCB signing chains. Checking
// them keeps a certificate of one role (a PCK leaf, say) from acting in another.
const (
	cnPCKLeaf      = "Intel SGX PCK Certificate"
	cnProcessorCA  = "Intel SGX PCK Processor CA"
	cnPlatformCA   = "Intel SGX PCK Platform CA"
	cnTCBSigning   = "Intel SGX TCB Signing"
	maxChainLength = 4
	maxCRLs        = 16
)

// intelQEMRSigner and intelQEProdID identify Intel's ECDSA quoting enclave (from Intel's QE
// identity); they are checked when no QE identity collateral is given.
const intelQEMRSigner = "\x8c\x4f\x57\x75\xd7\x96\x50\x3e\x96\x13\x7f\x77\xc6\x8a\x82\x9a" +
	"\x00\x56\xac\x8d\xed\x70\x14\x0b\x08\x1b\x09\x44\x90\xc5\x7b\xff"

const intelQEProdID = 1

// Options are the inputs of one verification besides the quote. Build one per call.
type Options struct {
	// Now is the verification time for certificates, CRLs and collateral. Required.
	Now time.Time
	// Roots are the trust anchors for the PCK chain and the TCB signing chain.
	// Empty means the real Intel SGX Root CA only.
	Roots []*x509.Certificate
	// CRLs are revocation lists to apply. A CRL whose issuer is the PCK intermediate CA or the
	// root must be signed by it and current at Now, and revokes the certificates it lists;
	// CRLs of other issuers are ignored.
	CRLs []*x509.RevocationList
	// Collateral, when given, adds the TCB appraisal; nil means none (Claims.TCBStatus "").
	Collateral *Collateral
}

// Collateral is Intel PCS collateral for the TCB appraisal, checked offline.
type Collateral struct {
	// TCBInfo is the SGX TCB info JSON (version 3) for the platform's FMSPC, as served by
	// Intel PCS ({"tcbInfo":{...},"signature":"..."}). Required.
	TCBInfo []byte
	// QEIdentity is the SGX QE identity JSON (version 2, {"enclaveIdentity":...}). Optional:
	// without it the QE is only checked to be Intel's (MRSIGNER, ISVPRODID 1, not debug), and
	// its TCB level is not appraised.
	QEIdentity []byte
	// TCBSigningChain signs TCBInfo and QEIdentity: "Intel SGX TCB Signing" first, then its
	// issuer (a copy of the root may follow; the anchor always comes from Options.Roots).
	TCBSigningChain []*x509.Certificate
}

// Claims are what a verified quote says. Byte slices are copies.
type Claims struct {
	// The ISV enclave report.
	MRENCLAVE    []byte // 32 bytes: measurement of the enclave
	MRSIGNER     []byte // 32 bytes: hash of the enclave signer's key
	ISVProdID    uint16
	ISVSVN       uint16
	Attributes   []byte // 16 bytes: FLAGS (little-endian u64) || XFRM
	Debug        bool   // ATTRIBUTES.DEBUG (FLAGS bit 1): a debugger can read and change the enclave
	MiscSelect   uint32
	ISVExtProdID []byte // 16 bytes
	ISVFamilyID  []byte // 16 bytes
	ConfigID     []byte // 64 bytes
	ConfigSVN    uint16
	ReportData   []byte // 64 bytes
	CPUSVN       []byte // 16 bytes: the CPU's security version as the enclave report states it

	// The quote header and QE.
	PCESVN uint16 // the PCE's SVN when it made the quote (header)
	QESVN  uint16 // the quoting enclave's ISVSVN (its report)

	// The PCK certificate.
	FMSPC  []byte // 6 bytes: the platform family
	PCEID  []byte // 2 bytes
	PCKTCB PCKTCB // the TCB the PCK certificate was issued for; the appraisal compares this

	// TCBStatus is the appraised status (StatusUpToDate, StatusOutOfDate...), combining the
	// platform's TCB level and, when QE identity was given, the QE's. Empty without collateral.
	TCBStatus   string
	TCBDate     time.Time // the matched platform TCB level's date; zero without collateral
	AdvisoryIDs []string  // Intel security advisories of the matched levels
	// QEStatus is the QE's own TCB status from QE identity; empty when none was given.
	QEStatus string
}

// Verify checks an SGX quote v3 and returns its claims. It does not apply any policy: see Check.
func Verify(quote []byte, opts Options) (*Claims, error) {
	if opts.Now.IsZero() {
		return nil, fmt.Errorf("%w: Now is required (pass the verification time)", ErrOptions)
	}
	if len(opts.CRLs) > maxCRLs {
		return nil, fmt.Errorf("%w: %d CRLs, limit %d", ErrOptions, len(opts.CRLs), maxCRLs)
	}
	q, err := parseQuote(quote)
	if err != nil {
		return nil, err
	}
	pool, err := rootPool(opts.Roots)
	if err != nil {
		return nil, err
	}

	leaf, intermediate, quoteRoot, err := parsePCKChain(q.pckChainPEM)
	if err != nil {
		return nil, err
	}
	anchor, err := intelpki.VerifyChain(leaf, []*x509.Certificate{intermediate}, pool, opts.Now, "PCK certificate", ErrExpired, ErrUntrustedChain)
	if err != nil {
		return nil, err
	}
	// The root the quote carries is not what we trust, but it must be the anchor: otherwise
	// its bytes could change without any check noticing.
	if !quoteRoot.Equal(anchor) {
		return nil, fmt.Errorf("%w: the quote's root certificate %q is not the trusted root the chain leads to", ErrUntrustedChain, quoteRoot.Subject)
	}
	if err := checkRevocation(opts.CRLs, []*x509.Certificate{leaf, intermediate, anchor}, opts.Now, "PCK"); err != nil {
		return nil, err
	}
	ext, err := parsePCKExtensions(leaf)
	if err != nil {
		return nil, err
	}

	pckKey, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pckKey.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: PCK certificate key is not ECDSA P-256", ErrUntrustedChain)
	}
	if !intelpki.VerifyRaw(pckKey, q.qeReport, q.qeReportSig) {
		return nil, fmt.Errorf("%w: QE report signature does not verify with the PCK certificate", ErrBadSignature)
	}
	qe := parseReport(q.qeReport)
	// The QE binds the attestation key: its report data is SHA-256(key || QE auth data) || 0*32.
	binding := sha256.Sum256(append(bytes.Clone(q.attestKey), q.qeAuthData...))
	if !bytes.Equal(qe.reportData[:32], binding[:]) || !allZero(qe.reportData[32:]) {
		return nil, fmt.Errorf("%w: QE report data does not bind the attestation key", ErrBadSignature)
	}
	attestKey, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, q.attestKey...))
	if err != nil {
		return nil, fmt.Errorf("%w: attestation key: %v", ErrMalformed, err)
	}
	if !intelpki.VerifyRaw(attestKey, q.headerAndBody, q.signature) {
		return nil, fmt.Errorf("%w: quote signature does not verify with the attestation key", ErrBadSignature)
	}
	if qe.debug() {
		return nil, fmt.Errorf("%w: the quoting enclave runs in debug mode, so its signature proves nothing", ErrTCB)
	}

	claims := claimsFrom(q, qe, ext)
	if opts.Collateral == nil {
		if err := checkIntelQE(qe); err != nil {
			return nil, err
		}
		return claims, nil
	}
	if err := appraise(claims, opts, pool, anchor, ext, qe); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkIntelQE is the QE check without QE identity collateral: the report must come from
// Intel's quoting enclave. (The PCE certifies any enclave with the PROVISIONKEY attribute.)
func checkIntelQE(qe report) error {
	if string(qe.mrSigner) != intelQEMRSigner || qe.isvProdID != intelQEProdID {
		return fmt.Errorf("%w: the quoting enclave (MRSIGNER %x, ISVPRODID %d) is not Intel's", ErrTCB, qe.mrSigner, qe.isvProdID)
	}
	return nil
}

// appraise checks the collateral and sets the TCB fields of claims.
func appraise(claims *Claims, opts Options, pool *x509.CertPool, pckAnchor *x509.Certificate, ext *pckExtensions, qe report) error {
	c := opts.Collateral
	if len(c.TCBInfo) == 0 {
		return fmt.Errorf("%w: collateral without TCB info", ErrCollateral)
	}
	chain := c.TCBSigningChain
	if len(chain) == 0 || len(chain) > maxChainLength || slices.Contains(chain, nil) {
		return fmt.Errorf("%w: TCB signing chain has %d certificates, want 1 to %d (signer first)", ErrCollateral, len(chain), maxChainLength)
	}
	signer := chain[0]
	if signer.Subject.CommonName != cnTCBSigning {
		return fmt.Errorf("%w: TCB signing certificate is %q, want %q", ErrCollateral, signer.Subject.CommonName, cnTCBSigning)
	}
	anchor, err := intelpki.VerifyChain(signer, chain[1:], pool, opts.Now, "TCB signing certificate", ErrExpired, ErrUntrustedChain)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCollateral, err)
	}
	if !anchor.Equal(pckAnchor) {
		return fmt.Errorf("%w: TCB signing chain leads to %q, the PCK chain to another root", ErrCollateral, anchor.Subject)
	}
	if err := checkRevocation(opts.CRLs, []*x509.Certificate{signer, anchor}, opts.Now, "TCB signing"); err != nil {
		return err
	}
	signerKey, _ := signer.PublicKey.(*ecdsa.PublicKey)

	body, err := signedBody(c.TCBInfo, "tcbInfo", signerKey)
	if err != nil {
		return err
	}
	platform, err := matchTCBInfo(body, ext, opts.Now)
	if err != nil {
		return err
	}
	status, advisories := platform.status, platform.advisories
	if len(c.QEIdentity) > 0 {
		body, err := signedBody(c.QEIdentity, "enclaveIdentity", signerKey)
		if err != nil {
			return err
		}
		qeLevel, err := matchQEIdentity(body, qe, opts.Now)
		if err != nil {
			return err
		}
		claims.QEStatus = qeLevel.status
		status = convergeStatus(status, qeLevel.status)
		advisories = mergeAdvisories(advisories, qeLevel.advisories)
	} else if err := checkIntelQE(qe); err != nil {
		return err
	}
	if status == StatusRevoked {
		return fmt.Errorf("%w: Intel has revoked this TCB (FMSPC %X, advisories %v)", ErrRevoked, ext.fmspc, advisories)
	}
	claims.TCBStatus = status
	claims.TCBDate = platform.date
	claims.AdvisoryIDs = mergeAdvisories(advisories)
	return nil
}

// rootPool builds the anchor pool; no roots means the real Intel SGX Root CA.
func rootPool(roots []*x509.Certificate) (*x509.CertPool, error) {
	if len(roots) == 0 {
		intel, err := tdx.IntelSGXRootCA()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
		roots = []*x509.Certificate{intel}
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		if r == nil {
			return nil, fmt.Errorf("%w: nil root certificate", ErrOptions)
		}
		pool.AddCert(r)
	}
	return pool, nil
}

// parsePCKChain splits the PEM chain embedded in the quote into leaf, intermediate and root,
// and checks their roles by name.
func parsePCKChain(chainPEM []byte) (leaf, intermediate, root *x509.Certificate, err error) {
	certs, err := intelpki.ParsePEMCerts(chainPEM, maxChainLength)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: PCK certificate chain: %v", ErrMalformed, err)
	}
	if len(certs) != 3 {
		return nil, nil, nil, fmt.Errorf("%w: PCK certificate chain has %d certificates, want 3 (leaf, intermediate, root)", ErrMalformed, len(certs))
	}
	leaf, intermediate, root = certs[0], certs[1], certs[2]
	if leaf.Subject.CommonName != cnPCKLeaf {
		return nil, nil, nil, fmt.Errorf("%w: PCK leaf is %q, want %q", ErrUntrustedChain, leaf.Subject.CommonName, cnPCKLeaf)
	}
	if cn := intermediate.Subject.CommonName; cn != cnProcessorCA && cn != cnPlatformCA {
		return nil, nil, nil, fmt.Errorf("%w: PCK intermediate is %q, want %q or %q", ErrUntrustedChain, cn, cnProcessorCA, cnPlatformCA)
	}
	return leaf, intermediate, root, nil
}

// checkRevocation applies every CRL issued by a certificate of chain (leaf first, anchor last)
// to the certificate that issuer signed. CRLs of other issuers are ignored; a CRL in an issuer's
// name that does not verify with its key or is not current at now fails.
func checkRevocation(crls []*x509.RevocationList, chain []*x509.Certificate, now time.Time, what string) error {
	for _, crl := range crls {
		if crl == nil {
			return fmt.Errorf("%w: nil CRL", ErrOptions)
		}
		for i := 1; i < len(chain); i++ {
			issuer, subject := chain[i], chain[i-1]
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
				continue
			}
			if err := crl.CheckSignatureFrom(issuer); err != nil {
				return fmt.Errorf("%w: %w: CRL of %q: %v", ErrCollateral, ErrBadSignature, issuer.Subject.CommonName, err)
			}
			if now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && now.After(crl.NextUpdate)) {
				return fmt.Errorf("%w: %w: CRL of %q is valid from %s to %s, not at %s; fetch a current CRL", ErrCollateral, ErrExpired, issuer.Subject.CommonName,
					crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber != nil && e.SerialNumber.Cmp(subject.SerialNumber) == 0 {
					return fmt.Errorf("%w: %s chain: %q (serial %x) revoked by %q at %s", ErrRevoked, what, subject.Subject.CommonName,
						subject.SerialNumber, issuer.Subject.CommonName, e.RevocationTime.UTC().Format(time.RFC3339))
				}
			}
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func claimsFrom(q *rawQuote, qe report, ext *pckExtensions) *Claims {
	r := parseReport(q.body)
	return &Claims{
		MRENCLAVE:    bytes.Clone(r.mrEnclave),
		MRSIGNER:     bytes.Clone(r.mrSigner),
		ISVProdID:    r.isvProdID,
		ISVSVN:       r.isvSVN,
		Attributes:   bytes.Clone(r.attributes),
		Debug:        r.debug(),
		MiscSelect:   r.miscSelect,
		ISVExtProdID: bytes.Clone(r.isvExtProdID),
		ISVFamilyID:  bytes.Clone(r.isvFamilyID),
		ConfigID:     bytes.Clone(r.configID),
		ConfigSVN:    r.configSVN,
		ReportData:   bytes.Clone(r.reportData),
		CPUSVN:       bytes.Clone(r.cpuSVN),
		PCESVN:       binary.LittleEndian.Uint16(q.header[10:12]),
		QESVN:        qe.isvSVN,
		FMSPC:        bytes.Clone(ext.fmspc),
		PCEID:        bytes.Clone(ext.pceID),
		PCKTCB:       ext.tcb,
	}
}
