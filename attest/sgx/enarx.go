package sgx

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// EnarxExtensionOID is the CSR extension in which Enarx keeps carry SGX evidence.
var EnarxExtensionOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 58270, 1, 2}

// Bounds for untrusted Enarx evidence: a quote, three Intel CRLs (the platform CA's is ~2.7 KB
// and grows) and a TCB package fit well within them.
const (
	maxEnarxEvidence  = 1 << 20
	maxEnarxCRLs      = 8
	maxEnarxTCBCerts  = maxChainLength
	maxEnarxURLLength = 2048
)

// enarxEvidence mirrors what Enarx keeps send:
//
//	SEQUENCE { quote OCTET STRING, crls CrlList, tcb TcbPackage }
//	CrlList    ::= SEQUENCE { SEQUENCE OF SEQUENCE { url UTF8String, crl CertificateList } }
//	TcbPackage ::= SEQUENCE { certs SEQUENCE OF Certificate, tcbInfo OCTET STRING }
//
// Enarx describes CrlList as a bare SEQUENCE OF; the captured CSR wraps it in one more
// SEQUENCE (as its SNP evidence does), and the bytes decide.
type enarxEvidence struct {
	Quote []byte
	CRLs  struct {
		Entries []enarxCRL
	}
	TCB struct {
		Certs   []asn1.RawValue
		TCBInfo []byte // raw Intel PCS TCB info JSON
	}
}

type enarxCRL struct {
	URL string `asn1:"utf8"`
	CRL asn1.RawValue
}

// ParseEnarxEvidence decodes the value of Enarx's SGX CSR extension into the raw quote, the
// CRLs it carries and its TCB package as Collateral (TCB info and its signing chain; Enarx
// sends no QE identity). It checks structure only: pass the results to Verify. tcb is nil when
// the package is empty.
func ParseEnarxEvidence(der []byte) (quote []byte, crls []*x509.RevocationList, tcb *Collateral, err error) {
	if len(der) > maxEnarxEvidence {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SGX evidence is %d bytes, limit %d", ErrMalformed, len(der), maxEnarxEvidence)
	}
	var ev enarxEvidence
	if err := unmarshalAll(der, &ev); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SGX evidence: %v", ErrMalformed, err)
	}
	if len(ev.Quote) == 0 || len(ev.Quote) > maxQuoteSize {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SGX evidence has a quote of %d bytes, want 1 to %d", ErrMalformed, len(ev.Quote), maxQuoteSize)
	}
	if len(ev.CRLs.Entries) > maxEnarxCRLs {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SGX evidence carries %d CRLs, limit %d", ErrMalformed, len(ev.CRLs.Entries), maxEnarxCRLs)
	}
	for i, c := range ev.CRLs.Entries {
		if len(c.URL) > maxEnarxURLLength {
			return nil, nil, nil, fmt.Errorf("%w: Enarx SGX evidence CRL %d has a %d-byte URL", ErrMalformed, i, len(c.URL))
		}
		crl, err := x509.ParseRevocationList(c.CRL.FullBytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: Enarx SGX evidence CRL %d (%.100q): %v", ErrMalformed, i, c.URL, err)
		}
		crls = append(crls, crl)
	}
	if len(ev.TCB.Certs) == 0 && len(ev.TCB.TCBInfo) == 0 {
		return ev.Quote, crls, nil, nil
	}
	if len(ev.TCB.Certs) == 0 || len(ev.TCB.Certs) > maxEnarxTCBCerts || len(ev.TCB.TCBInfo) == 0 || len(ev.TCB.TCBInfo) > maxCollateralJSON {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SGX TCB package has %d certificates and %d bytes of TCB info, want 1 to %d and 1 to %d",
			ErrMalformed, len(ev.TCB.Certs), len(ev.TCB.TCBInfo), maxEnarxTCBCerts, maxCollateralJSON)
	}
	tcb = &Collateral{TCBInfo: ev.TCB.TCBInfo}
	for i, raw := range ev.TCB.Certs {
		cert, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: Enarx SGX TCB package certificate %d: %v", ErrMalformed, i, err)
		}
		tcb.TCBSigningChain = append(tcb.TCBSigningChain, cert)
	}
	return ev.Quote, crls, tcb, nil
}

// ErrBinding means the report data does not commit to the CSR's public key.
var ErrBinding = errors.New("sgx: report data does not bind the key")

// EnarxBinding checks Enarx's key binding: REPORTDATA[0:32] is SHA-256 of the CSR's
// SubjectPublicKeyInfo DER. (Enarx binds nothing else; donjon's own evidence binds the
// workload too.)
func EnarxBinding(csr *x509.CertificateRequest, c *Claims) error {
	if csr == nil || c == nil || len(c.ReportData) != 64 {
		return fmt.Errorf("%w: no CSR or no verified claims", ErrBinding)
	}
	sum := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	if subtle.ConstantTimeCompare(sum[:], c.ReportData[:len(sum)]) != 1 {
		return fmt.Errorf("%w: REPORTDATA[0:32] is not SHA-256 of the CSR's public key", ErrBinding)
	}
	return nil
}
