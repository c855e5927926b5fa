package snp

import (
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// EnarxExtensionOID is the CSR extension in which Enarx keeps carry SEV-SNP evidence.
var EnarxExtensionOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 58270, 1, 3}

// Bounds for untrusted Enarx evidence: a report, a VCEK and a few CRLs fit
// well within them.
const (
	maxEnarxEvidence = 1 << 20
	maxEnarxCRLs     = 8
)

// enarxEvidence mirrors what Enarx keeps send:
//
//	SEQUENCE { SEQUENCE { vcek Certificate, crls CrlList }, report OCTET STRING }
//	CrlList ::= SEQUENCE { SEQUENCE OF SEQUENCE { url UTF8String, crl CertificateList } }
//
// Enarx describes CrlList as a bare SEQUENCE OF; the captured CSRs wrap it in
// one more SEQUENCE (its Rust struct around the list), and the bytes decide.
type enarxEvidence struct {
	Chain struct {
		VCEK asn1.RawValue
		CRLs struct {
			Entries []enarxCRL
		}
	}
	Report []byte
}

type enarxCRL struct {
	URL string `asn1:"utf8"`
	CRL asn1.RawValue
}

// ParseEnarxEvidence decodes the value of Enarx's SNP CSR extension into the
// raw report, the VCEK DER and the CRLs it carries. It checks structure only:
// pass the results to Verify.
func ParseEnarxEvidence(der []byte) (report, vcekDER []byte, crls []*x509.RevocationList, err error) {
	if len(der) > maxEnarxEvidence {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence is %d bytes, limit %d", ErrMalformed, len(der), maxEnarxEvidence)
	}
	var ev enarxEvidence
	rest, err := asn1.Unmarshal(der, &ev)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence has %d trailing bytes", ErrMalformed, len(rest))
	}
	if len(ev.Chain.CRLs.Entries) > maxEnarxCRLs {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence carries %d CRLs, limit %d", ErrMalformed, len(ev.Chain.CRLs.Entries), maxEnarxCRLs)
	}
	if len(ev.Report) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence has an empty report", ErrMalformed)
	}
	if _, err := x509.ParseCertificate(ev.Chain.VCEK.FullBytes); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence VCEK: %v", ErrMalformed, err)
	}
	for i, c := range ev.Chain.CRLs.Entries {
		crl, err := x509.ParseRevocationList(c.CRL.FullBytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: Enarx SNP evidence CRL %d (%.100q): %v", ErrMalformed, i, c.URL, err)
		}
		crls = append(crls, crl)
	}
	return ev.Report, ev.Chain.VCEK.FullBytes, crls, nil
}

// ErrBinding means the report data does not commit to the CSR's public key.
var ErrBinding = errors.New("snp: report data does not bind the key")

// EnarxBinding checks Enarx's key binding: REPORT_DATA[0:48] is SHA-384 of the
// CSR's SubjectPublicKeyInfo DER. (Enarx binds nothing else; donjon's own
// evidence binds the workload too.)
func EnarxBinding(csr *x509.CertificateRequest, c *Claims) error {
	if csr == nil || c == nil {
		return fmt.Errorf("%w: no CSR or claims", ErrBinding)
	}
	sum := sha512.Sum384(csr.RawSubjectPublicKeyInfo)
	if subtle.ConstantTimeCompare(sum[:], c.ReportData[:len(sum)]) != 1 {
		return fmt.Errorf("%w: REPORT_DATA[0:48] is not SHA-384 of the CSR's public key", ErrBinding)
	}
	return nil
}
