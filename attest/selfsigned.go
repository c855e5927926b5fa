package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-sev-guest/abi"
)

// ErrSelfSigned is wrapped by errors about a self-signed keep certificate
// itself (signature, validity, claims that the evidence does not prove).
var ErrSelfSigned = errors.New("attest: bad self-signed keep certificate")

// MaxCertificate bounds a certificate given to VerifySelfSigned; a keep's
// certificate with its evidence is about 10 KB.
const MaxCertificate = 128 << 10

// DeclaredClaims are the claims ev states about itself, read without any
// verification: a keep puts them in the claims extension of its self-signed
// certificate, and VerifySelfSigned requires them to equal what the evidence
// proves. PlatformID is left empty for TDX, whose FMSPC sits in the PCK
// certificate rather than in the signed quote body.
func DeclaredClaims(ev Evidence, module, config [32]byte) (*Claims, error) {
	c := &Claims{Platform: ev.Platform, ModuleDigest: module, ConfigDigest: config}
	switch ev.Platform {
	case PlatformNil:
		if _, err := ParseNilEvidence(ev.Report); err != nil {
			return nil, err
		}
		c.Insecure = true
	case PlatformSNP:
		r, err := abi.ReportToProto(ev.Report)
		if err != nil {
			return nil, fmt.Errorf("%w: snp report: %v", ErrEvidence, err)
		}
		var tcb [8]byte
		binary.LittleEndian.PutUint64(tcb[:], r.ReportedTcb)
		pol, err := abi.ParseSnpPolicy(r.Policy)
		if err != nil {
			return nil, fmt.Errorf("%w: snp guest policy: %v", ErrEvidence, err)
		}
		c.Debug = pol.Debug
		c.TCB = tcb[:]
		c.Measurement = bytes.Clone(r.Measurement)
		c.PlatformID = bytes.Clone(r.ChipId)
	case PlatformTDX:
		// TDX quote v4: a 48-byte header, then the TD report body whose
		// TEE_TCB_SVN (16 bytes) is at 0, TDATTRIBUTES (8) at 120 and
		// MRTD (48) at 136.
		const header, tcbAt, attrAt, mrtdAt = 48, 0, 120, 136
		if len(ev.Report) < header+mrtdAt+48 {
			return nil, fmt.Errorf("%w: tdx quote is %d bytes, too short", ErrEvidence, len(ev.Report))
		}
		body := ev.Report[header:]
		c.TCB = bytes.Clone(body[tcbAt : tcbAt+16])
		c.Debug = body[attrAt]&1 != 0
		c.Measurement = bytes.Clone(body[mrtdAt : mrtdAt+48])
	default:
		return nil, fmt.Errorf("%w: unknown platform %d", ErrEvidence, int(ev.Platform))
	}
	return c, nil
}

// VerifySelfSigned verifies a keep's self-signed (RA-TLS style) certificate
// in DER: its signature by its own key, its validity at opts.Now, its
// evidence (VerifyEvidence, binding the certificate's key and the workload
// digests its claims extension names) and that its claims extension states
// exactly what the evidence proves. It returns the proven claims.
func VerifySelfSigned(certDER []byte, opts VerifyOptions) (*Claims, error) {
	if len(certDER) > MaxCertificate {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrSelfSigned, len(certDER), MaxCertificate)
	}
	if opts.Now.IsZero() {
		return nil, errors.New("attest: VerifyOptions.Now is required: pass the verification time explicitly")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSelfSigned, err)
	}
	r, err := verifySelfSigned(cert, opts)
	if err != nil {
		return nil, err
	}
	return &r.Claims, nil
}

func verifySelfSigned(cert *x509.Certificate, opts VerifyOptions) (*Result, error) {
	// CheckSignatureFrom would demand CA basic constraints; a keep's leaf
	// certificate is not a CA, it only signs itself.
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("%w: not signed by its own key: %v", ErrSelfSigned, err)
	}
	if opts.Now.Before(cert.NotBefore) || opts.Now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: valid from %s to %s, not at %s; check the clock or ask the keep for a fresh certificate", ErrSelfSigned,
			cert.NotBefore.UTC().Format("2006-01-02T15:04:05Z"), cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), opts.Now.UTC().Format("2006-01-02T15:04:05Z"))
	}
	ev, err := EvidenceFromCertificate(cert)
	if err != nil {
		return nil, err
	}
	stated, err := ClaimsFromCertificate(cert)
	if err != nil {
		return nil, err
	}
	r, err := verifyEvidence(*ev, cert.RawSubjectPublicKeyInfo, stated.ModuleDigest, stated.ConfigDigest, opts)
	if err != nil {
		return nil, err
	}
	if err := sameClaims(stated, &r.Claims, ErrSelfSigned); err != nil {
		return nil, err
	}
	// The runtime's own statement: its key signed it (see Claims.Plaintext).
	r.Claims.Plaintext = stated.Plaintext
	return r, nil
}

// sameClaims requires the claims a certificate states to be what its
// evidence proves, so no relying party reads an unproven claim from it.
// An empty stated platform id or product is allowed (see DeclaredClaims).
func sameClaims(stated, proven *Claims, kind error) error {
	mismatch := func(field string) error {
		return fmt.Errorf("%w: its claims extension states another %s than its evidence proves", kind, field)
	}
	switch {
	case stated.Platform != proven.Platform:
		return mismatch("platform")
	case stated.Insecure != proven.Insecure:
		return mismatch("insecure flag")
	case stated.Debug != proven.Debug:
		return mismatch("debug flag")
	case !bytes.Equal(stated.TCB, proven.TCB):
		return mismatch("TCB")
	case !bytes.Equal(stated.Measurement, proven.Measurement):
		return mismatch("measurement")
	case len(stated.PlatformID) != 0 && !bytes.Equal(stated.PlatformID, proven.PlatformID):
		return mismatch("platform id")
	case stated.Product != "" && stated.Product != proven.Product:
		return mismatch("product")
	case stated.ModuleDigest != proven.ModuleDigest || stated.ConfigDigest != proven.ConfigDigest:
		return mismatch("workload digests")
	}
	return nil
}
