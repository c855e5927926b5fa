package attest

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"donjon.dev/attest/sgx"
	"donjon.dev/attest/snp"
	"donjon.dev/attest/tdx"
)

// Sources of verified claims, as Result.Source reports them.
const (
	// SourceEvidence: hardware (or nil) evidence in donjon's format,
	// verified here, binding the key and the workload.
	SourceEvidence = "donjon evidence"
	// SourceEnarxSNP: an Enarx keep's SEV-SNP evidence, verified here. It
	// binds the key only: Enarx does not attest the workload.
	SourceEnarxSNP = "Enarx SNP evidence"
	// SourceEnarxSGX: an Enarx keep's SGX quote, verified here. It binds
	// the key only.
	SourceEnarxSGX = "Enarx SGX evidence"
	// SourceSteward: a certificate issued by a trusted steward, which
	// verified the evidence; the claims are the steward's.
	SourceSteward = "steward certificate"
)

// Result is what one verification established.
type Result struct {
	Claims Claims
	// Source says what the claims rest on (SourceEvidence, SourceEnarxSNP,
	// SourceSteward).
	Source string
	// SNP and TDX are the platform verifier's full findings when evidence
	// was verified here; both nil for a steward's certificate.
	SNP *snp.Claims
	TDX *tdx.Claims
	SGX *sgx.Claims
	// NotAfter is when the certificate the claims came from expires; zero
	// for a certificate request.
	NotAfter time.Time
}

// ErrCSR is wrapped by errors about a certificate request itself: it does
// not parse, is not signed by its key, or carries no (or ambiguous)
// evidence. A steward answers them with 400; every other verification
// failure means the evidence does not satisfy what was asked (403).
var ErrCSR = errors.New("attest: bad certificate request")

// ErrUnsupported means evidence of a kind donjon knows but does not verify.
var ErrUnsupported = errors.New("attest: unsupported evidence")

// ErrChain is wrapped by errors about a certificate chain presented as a
// keep's identity.
var ErrChain = errors.New("attest: bad keep certificate chain")

// maxChain bounds the certificates VerifyChain looks at.
const maxChain = 8

// VerifyCSR verifies a keep's certificate request (DER) as a steward does:
// the request is signed by its key, carries exactly one evidence extension
// (donjon's, or Enarx's SNP one), the evidence is authentic and binds the
// request's key (and, for donjon evidence, the workload digests the request
// states in its claims extension, which must equal what the evidence
// proves). It returns the proven claims and the parsed request.
func VerifyCSR(der []byte, opts VerifyOptions) (*Result, *x509.CertificateRequest, error) {
	if len(der) > MaxCertificate {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrCSR, len(der), MaxCertificate)
	}
	if opts.Now.IsZero() {
		return nil, nil, errors.New("attest: VerifyOptions.Now is required: pass the verification time explicitly")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("%w: not signed by its own key: %v", ErrCSR, err)
	}
	var found []string
	var enarxSNP, enarxSGX []byte
	for _, e := range csr.Extensions {
		switch {
		case e.Id.Equal(OIDEvidence):
			found = append(found, "donjon")
		case e.Id.Equal(OIDEnarxSNP):
			found = append(found, "enarx-snp")
			enarxSNP = e.Value
		case e.Id.Equal(OIDEnarxSGX):
			found = append(found, "enarx-sgx")
			enarxSGX = e.Value
		case e.Id.Equal(OIDEnarxKVM):
			found = append(found, "enarx-kvm")
		}
	}
	if len(found) != 1 {
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("%w: it carries no evidence extension; only keeps can ask for a certificate", ErrCSR)
		}
		return nil, nil, fmt.Errorf("%w: it carries %d evidence extensions (%v); a keep sends exactly one", ErrCSR, len(found), found)
	}
	var r *Result
	switch found[0] {
	case "donjon":
		r, err = verifyDonjonCSR(csr, opts)
	case "enarx-snp":
		r, err = verifyEnarxSNP(csr, enarxSNP, opts)
	case "enarx-sgx":
		r, err = verifyEnarxSGX(csr, enarxSGX, opts)
	case "enarx-kvm":
		err = fmt.Errorf("%w: Enarx's kvm backend has no hardware evidence, so there is nothing to certify; run the keep on SEV-SNP or TDX", ErrUnsupported)
	}
	if err != nil {
		return nil, nil, err
	}
	return r, csr, nil
}

func verifyDonjonCSR(csr *x509.CertificateRequest, opts VerifyOptions) (*Result, error) {
	ev, err := findEvidence(csr.Extensions)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	stated, err := claimsFromExtensions(csr.Extensions)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	r, err := verifyEvidence(*ev, csr.RawSubjectPublicKeyInfo, stated.ModuleDigest, stated.ConfigDigest, opts)
	if err != nil {
		return nil, err
	}
	if err := sameClaims(stated, &r.Claims, ErrCSR); err != nil {
		return nil, err
	}
	// The runtime's own statement: its key signed it (see Claims.Plaintext).
	r.Claims.Plaintext = stated.Plaintext
	return r, nil
}

func verifyEnarxSNP(csr *x509.CertificateRequest, value []byte, opts VerifyOptions) (*Result, error) {
	report, vcek, crls, err := snp.ParseEnarxEvidence(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	sc, err := snp.Verify(report, vcek, snp.Options{Now: opts.Now, Roots: opts.SNPRoots, CRLs: append(crls, opts.SNPCRLs...)})
	if err != nil {
		return nil, fmt.Errorf("attest: Enarx snp evidence: %w", err)
	}
	if err := snp.EnarxBinding(csr, sc); err != nil {
		return nil, fmt.Errorf("attest: Enarx snp evidence: %w", err)
	}
	r := &Result{Source: SourceEnarxSNP, Claims: ClaimsFromSNP(sc), SNP: sc}
	if r.Claims.Debug && !opts.AllowDebug {
		return nil, ErrDebug
	}
	return r, nil
}

// ErrSGXTCBStatus means an SGX platform's appraised TCB status is not one
// the verifier accepts (VerifyOptions.SGXTCBStatus).
var ErrSGXTCBStatus = errors.New("attest: the SGX platform's TCB status is not accepted")

func verifyEnarxSGX(csr *x509.CertificateRequest, value []byte, opts VerifyOptions) (*Result, error) {
	quote, crls, collateral, err := sgx.ParseEnarxEvidence(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	sc, err := sgx.Verify(quote, sgx.Options{Now: opts.Now, Roots: opts.SGXRoots, CRLs: crls, Collateral: collateral})
	if err != nil {
		return nil, fmt.Errorf("attest: Enarx sgx evidence: %w", err)
	}
	if err := sgx.EnarxBinding(csr, sc); err != nil {
		return nil, fmt.Errorf("attest: Enarx sgx evidence: %w", err)
	}
	accepted := opts.SGXTCBStatus
	if accepted == nil {
		accepted = []string{sgx.StatusUpToDate}
	}
	if !slices.Contains(accepted, sc.TCBStatus) {
		status := sc.TCBStatus
		if status == "" {
			status = "not appraised (no TCB collateral)"
		}
		return nil, fmt.Errorf("%w: %s, accepted: %s", ErrSGXTCBStatus, status, strings.Join(accepted, ", "))
	}
	r := &Result{Source: SourceEnarxSGX, Claims: ClaimsFromSGX(sc), SGX: sc}
	if r.Claims.Debug && !opts.AllowDebug {
		return nil, ErrDebug
	}
	return r, nil
}

// ClaimsFromSGX are the claims a verified SGX quote proves, workload aside:
// the measurement is MRENCLAVE, the TCB is CPUSVN (16 bytes) followed by the
// PCE SVN (2 bytes, little-endian), the platform id the FMSPC.
func ClaimsFromSGX(sc *sgx.Claims) Claims {
	tcb := append(bytes.Clone(sc.CPUSVN), byte(sc.PCESVN), byte(sc.PCESVN>>8))
	return Claims{
		Platform:    PlatformSGX,
		Debug:       sc.Debug,
		TCB:         tcb,
		Measurement: bytes.Clone(sc.MRENCLAVE),
		PlatformID:  bytes.Clone(sc.FMSPC),
	}
}

// VerifyChain verifies the certificate chain a keep presents (in any order;
// a PkiPath lists the CA first, TLS the leaf first) and returns the claims it
// proves:
//
//   - a single self-signed keep certificate carrying its evidence (no
//     steward) is checked with VerifySelfSigned;
//   - otherwise the keep's certificate (the one with the claims extension)
//     must chain at opts.Now to one of opts.CAs, and its claims are the
//     issuing steward's.
//
// Either way insecure (nil) and debug claims are refused unless opts allows
// them. Appraising the claims against a policy is the caller's.
func VerifyChain(chain []*x509.Certificate, opts VerifyOptions) (*Result, error) {
	if opts.Now.IsZero() {
		return nil, errors.New("attest: VerifyOptions.Now is required: pass the verification time explicitly")
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificates", ErrChain)
	}
	if len(chain) > maxChain {
		return nil, fmt.Errorf("%w: %d certificates, at most %d allowed", ErrChain, len(chain), maxChain)
	}
	var leaf *x509.Certificate
	intermediates := x509.NewCertPool()
	for _, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("%w: a nil certificate", ErrChain)
		}
		if hasExtension(c, OIDClaims) && !c.IsCA {
			if leaf != nil {
				return nil, fmt.Errorf("%w: two keep certificates in one chain", ErrChain)
			}
			leaf = c
			continue
		}
		intermediates.AddCert(c)
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: no certificate carries donjon claims (%s); this is not a donjon keep", ErrChain, OIDClaims)
	}
	if len(chain) == 1 && hasExtension(leaf, OIDEvidence) && bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		r, err := verifySelfSigned(leaf, opts)
		if err != nil {
			return nil, err
		}
		r.NotAfter = leaf.NotAfter
		return r, nil
	}
	if len(opts.CAs) == 0 {
		return nil, fmt.Errorf("%w: the keep's certificate was issued by %q; trust that steward's CA certificate (--ca) to verify it", ErrChain, leaf.Issuer.String())
	}
	roots := x509.NewCertPool()
	for _, ca := range opts.CAs {
		roots.AddCert(ca)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   opts.Now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChain, err)
	}
	c, err := ClaimsFromCertificate(leaf)
	if err != nil {
		return nil, err
	}
	if c.Insecure && !opts.AllowInsecure {
		return nil, ErrInsecure
	}
	if c.Debug && !opts.AllowDebug {
		return nil, ErrDebug
	}
	return &Result{Claims: *c, Source: SourceSteward, NotAfter: leaf.NotAfter}, nil
}

func hasExtension(c *x509.Certificate, oid []int) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}
