package attest

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"donjon.dev/attest/snp"
	"donjon.dev/attest/tdx"
)

// EvidenceVersion is the only evidence extension version this code reads and
// writes. A change of meaning or layout takes a new version.
const EvidenceVersion = 1

// Limits on the evidence extension, far above any real value (an SNP report
// with its certificate table is about 8 KB, a TDX quote about 6 KB), so that
// hostile input cannot make a parser allocate much.
const (
	MaxEvidenceExtension = 64 << 10 // bytes of DER
)

// ErrEvidence is wrapped by every error about a malformed or unusable
// evidence extension.
var ErrEvidence = errors.New("attest: bad evidence extension")

// ErrDebug means hardware evidence comes from a TEE in debug mode, whose
// memory the host can read and change, and debug was not allowed.
var ErrDebug = errors.New("attest: the TEE runs in debug mode, so the host can read and change the keep; accept it only for development, with --allow-debug")

// Evidence is what a keep presents in the evidence extension (OIDEvidence):
// the unverified report or quote of its platform.
type Evidence struct {
	Platform Platform
	// Report is the nil evidence (NilEvidence), the raw SNP attestation
	// report, or the raw TDX quote.
	Report []byte
	// Certs is, for SNP, the certificate table (VCEK or VLEK and issuers)
	// in the firmware's GUID table layout; empty otherwise.
	Certs []byte
}

// evidenceASN1 is the DER layout of the evidence extension's value:
//
//	DonjonEvidence ::= SEQUENCE {
//	  version INTEGER (1),
//	  format  OBJECT IDENTIFIER, -- OIDFormatNil, OIDFormatSNP or OIDFormatTDX
//	  report  OCTET STRING,
//	  certs   OCTET STRING }     -- SNP certificate table, or empty
type evidenceASN1 struct {
	Version int
	Format  asn1.ObjectIdentifier
	Report  []byte
	Certs   []byte
}

func formatOID(p Platform) (asn1.ObjectIdentifier, error) {
	switch p {
	case PlatformNil:
		return OIDFormatNil, nil
	case PlatformSNP:
		return OIDFormatSNP, nil
	case PlatformTDX:
		return OIDFormatTDX, nil
	}
	return nil, fmt.Errorf("%w: unknown platform %d", ErrEvidence, int(p))
}

func formatPlatform(oid asn1.ObjectIdentifier) (Platform, error) {
	for _, p := range []Platform{PlatformNil, PlatformSNP, PlatformTDX} {
		if o, _ := formatOID(p); o.Equal(oid) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown evidence format %s; upgrade donjon", ErrEvidence, oid)
}

// Marshal encodes e as the DER value of the evidence extension.
func (e *Evidence) Marshal() ([]byte, error) {
	oid, err := formatOID(e.Platform)
	if err != nil {
		return nil, err
	}
	if e.Platform != PlatformSNP && len(e.Certs) != 0 {
		return nil, fmt.Errorf("%w: only SNP evidence carries a certificate table", ErrEvidence)
	}
	der, err := asn1.Marshal(evidenceASN1{Version: EvidenceVersion, Format: oid, Report: e.Report, Certs: e.Certs})
	if err != nil {
		return nil, fmt.Errorf("attest: encoding evidence: %w", err)
	}
	if len(der) > MaxEvidenceExtension {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrEvidence, len(der), MaxEvidenceExtension)
	}
	return der, nil
}

// Extension returns e as a non-critical certificate or CSR extension.
func (e *Evidence) Extension() (pkix.Extension, error) {
	der, err := e.Marshal()
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: OIDEvidence, Value: der}, nil
}

// ParseEvidenceExtension decodes the DER value of an evidence extension. It
// accepts only the canonical DER encoding of version EvidenceVersion, with
// no trailing bytes, and returns a copy that does not alias der. It does not
// verify anything: see VerifyEvidence.
func ParseEvidenceExtension(der []byte) (*Evidence, error) {
	if len(der) > MaxEvidenceExtension {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrEvidence, len(der), MaxEvidenceExtension)
	}
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEvidence, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after the evidence", ErrEvidence, len(rest))
	}
	if outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence || !outer.IsCompound {
		return nil, fmt.Errorf("%w: not a SEQUENCE", ErrEvidence)
	}
	// The version alone first, so a future layout is reported as such.
	var version int
	if _, err := asn1.Unmarshal(outer.Bytes, &version); err != nil {
		return nil, fmt.Errorf("%w: reading version: %v", ErrEvidence, err)
	}
	if version != EvidenceVersion {
		return nil, fmt.Errorf("%w: version %d, this donjon reads only version %d; upgrade donjon", ErrEvidence, version, EvidenceVersion)
	}
	var raw evidenceASN1
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEvidence, err)
	}
	p, err := formatPlatform(raw.Format)
	if err != nil {
		return nil, err
	}
	e := &Evidence{Platform: p, Report: bytes.Clone(raw.Report), Certs: bytes.Clone(raw.Certs)}
	again, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	// encoding/asn1 tolerates some non-canonical forms; one value, one encoding.
	if !bytes.Equal(again, der) {
		return nil, fmt.Errorf("%w: not in canonical DER form", ErrEvidence)
	}
	return e, nil
}

// findEvidence returns the single evidence extension among exts.
func findEvidence(exts []pkix.Extension) (*Evidence, error) {
	var found *pkix.Extension
	for i := range exts {
		if !exts[i].Id.Equal(OIDEvidence) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: the evidence extension appears twice", ErrEvidence)
		}
		found = &exts[i]
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no donjon evidence extension (%s)", ErrEvidence, OIDEvidence)
	}
	return ParseEvidenceExtension(found.Value)
}

// EvidenceFromCertificate finds and decodes the evidence extension in cert.
func EvidenceFromCertificate(cert *x509.Certificate) (*Evidence, error) {
	if cert == nil {
		return nil, fmt.Errorf("%w: no certificate", ErrEvidence)
	}
	return findEvidence(cert.Extensions)
}

// EvidenceFromCSR finds and decodes the evidence extension a CSR requests.
func EvidenceFromCSR(csr *x509.CertificateRequest) (*Evidence, error) {
	if csr == nil {
		return nil, fmt.Errorf("%w: no certificate request", ErrEvidence)
	}
	return findEvidence(csr.Extensions)
}

// VerifyOptions are the trust anchors, clock and permissions of one
// verification. Build one per call.
type VerifyOptions struct {
	// Now is the verification time. Required.
	Now time.Time
	// SNPRoots are the trusted AMD ARK/ASK pairs; nil means AMD's real roots.
	SNPRoots []snp.Root
	// TDXRoots are the trusted Intel roots; nil means the real Intel SGX Root CA.
	TDXRoots []*x509.Certificate
	// SNPVCEK is the VCEK (DER) to check an SNP report with when the
	// evidence's certificate table has none (the host attached no table):
	// from a cache or AMD's KDS. It is checked against SNPRoots like any
	// other.
	SNPVCEK []byte
	// SNPCRLs are AMD revocation lists to apply (see snp.Options.CRLs).
	SNPCRLs []*x509.RevocationList
	// SGXRoots are the trusted Intel roots for SGX quotes; nil means the
	// real Intel SGX Root CA.
	SGXRoots []*x509.Certificate
	// SGXTCBStatus lists the SGX TCB statuses accepted (sgx.StatusUpToDate
	// ...); nil accepts only UpToDate.
	SGXTCBStatus []string
	// CAs are the steward CA certificates trusted to issue keep
	// certificates (VerifyChain); nil trusts none.
	CAs []*x509.Certificate
	// AllowInsecure accepts the nil backend (development only).
	AllowInsecure bool
	// AllowDebug accepts a TEE in debug mode (development only).
	AllowDebug bool
}

// VerifyEvidence checks ev and that its report data binds spki (the keep
// key's SubjectPublicKeyInfo DER), module and config (the workload's SHA-256
// digests), and returns the claims it proves. It checks authenticity,
// binding, insecure and debug; TCB and measurement policy are the caller's.
func VerifyEvidence(ev Evidence, spki []byte, module, config [32]byte, opts VerifyOptions) (*Claims, error) {
	r, err := verifyEvidence(ev, spki, module, config, opts)
	if err != nil {
		return nil, err
	}
	return &r.Claims, nil
}

func verifyEvidence(ev Evidence, spki []byte, module, config [32]byte, opts VerifyOptions) (*Result, error) {
	if opts.Now.IsZero() {
		return nil, errors.New("attest: VerifyOptions.Now is required: pass the verification time explicitly")
	}
	want := ReportData(spki, module, config)
	r := &Result{Source: SourceEvidence}
	switch ev.Platform {
	case PlatformNil:
		if len(ev.Certs) != 0 {
			return nil, fmt.Errorf("%w: nil evidence carries a certificate table", ErrEvidence)
		}
		nc, err := VerifyNil(ev.Report, want, opts.AllowInsecure)
		if err != nil {
			return nil, err
		}
		r.Claims = *nc
	case PlatformSNP:
		vcek, err := snpVCEK(ev.Certs)
		if err != nil {
			if len(opts.SNPVCEK) == 0 {
				return nil, err
			}
			vcek = opts.SNPVCEK
		}
		sc, err := snp.Verify(ev.Report, vcek, snp.Options{Now: opts.Now, Roots: opts.SNPRoots, CRLs: opts.SNPCRLs})
		if err != nil {
			return nil, fmt.Errorf("attest: snp evidence: %w", err)
		}
		if err := CheckReportData(sc.ReportData[:], spki, module, config); err != nil {
			return nil, err
		}
		r.Claims = ClaimsFromSNP(sc)
		r.SNP = sc
	case PlatformTDX:
		if len(ev.Certs) != 0 {
			return nil, fmt.Errorf("%w: TDX evidence carries a certificate table; the PCK chain belongs in the quote", ErrEvidence)
		}
		tc, err := tdx.Verify(ev.Report, tdx.Options{Now: opts.Now, Roots: opts.TDXRoots})
		if err != nil {
			return nil, fmt.Errorf("attest: tdx evidence: %w", err)
		}
		if err := CheckReportData(tc.ReportData, spki, module, config); err != nil {
			return nil, err
		}
		r.Claims = ClaimsFromTDX(tc)
		r.TDX = tc
	default:
		return nil, fmt.Errorf("%w: unknown platform %d", ErrEvidence, int(ev.Platform))
	}
	if r.Claims.Debug && !opts.AllowDebug {
		return nil, ErrDebug
	}
	r.Claims.ModuleDigest = module
	r.Claims.ConfigDigest = config
	return r, nil
}

// ClaimsFromTDX are the claims verified TDX evidence proves, workload aside
// (zero digests: see Claims.WorkloadBound).
func ClaimsFromTDX(tc *tdx.Claims) Claims {
	return Claims{
		Platform:    PlatformTDX,
		Debug:       tc.Debug,
		TCB:         bytes.Clone(tc.TEETCBSVN),
		Measurement: bytes.Clone(tc.MRTD),
		PlatformID:  bytes.Clone(tc.FMSPC),
	}
}

// ClaimsFromSNP are the claims verified SNP evidence proves, workload aside
// (zero digests: see Claims.WorkloadBound).
func ClaimsFromSNP(sc *snp.Claims) Claims {
	var tcb [8]byte
	binary.LittleEndian.PutUint64(tcb[:], sc.ReportedTCB.Raw)
	return Claims{
		Platform:    PlatformSNP,
		Debug:       sc.Policy.Debug,
		TCB:         tcb[:],
		Measurement: bytes.Clone(sc.Measurement[:]),
		PlatformID:  bytes.Clone(sc.ChipID[:]),
		Product:     sc.Product,
	}
}

// SNP certificate table layout (SEV-SNP firmware ABI, extended guest
// request): 24-byte headers {GUID, offset uint32le, length uint32le} ended by
// an all-zero header; offsets count from the table's start.
const (
	certTableHeaderSize = 24
	maxCertTableEntries = 64
)

// vcekGUID is the table GUID of the VCEK, 63da758d-e664-4564-adc5-f4b93be8accd,
// in its byte order on the wire.
var vcekGUID = [16]byte{0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}

// snpVCEK returns the VCEK from an SNP certificate table. The host supplied
// the table, so every offset is checked. Only the VCEK is looked up: the ASK
// and ARK come from the verifier's trust anchors, never from the keep.
func snpVCEK(table []byte) ([]byte, error) {
	if len(table) == 0 {
		return nil, fmt.Errorf("%w: snp evidence carries no certificate table, so there is no VCEK to check the report with", ErrEvidence)
	}
	for i := 0; ; i++ {
		at := i * certTableHeaderSize
		if i > maxCertTableEntries || at+certTableHeaderSize > len(table) {
			return nil, fmt.Errorf("%w: snp certificate table has no VCEK entry before its end", ErrEvidence)
		}
		h := table[at : at+certTableHeaderSize]
		offset := uint64(binary.LittleEndian.Uint32(h[16:20]))
		length := uint64(binary.LittleEndian.Uint32(h[20:24]))
		if offset == 0 && length == 0 && allZeroBytes(h[:16]) {
			return nil, fmt.Errorf("%w: snp certificate table has no VCEK (a VLEK-signed report is not supported yet)", ErrEvidence)
		}
		if !bytes.Equal(h[:16], vcekGUID[:]) {
			continue
		}
		if offset < uint64(at+certTableHeaderSize) || offset+length > uint64(len(table)) || length == 0 {
			return nil, fmt.Errorf("%w: snp certificate table's VCEK entry spans bytes %d..%d of a %d-byte table", ErrEvidence, offset, offset+length, len(table))
		}
		return table[offset : offset+length], nil
	}
}

func allZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// HasVCEK reports whether SNP evidence carries a usable VCEK in its
// certificate table. Without one a verifier needs it from elsewhere
// (VerifyOptions.SNPVCEK).
func (e *Evidence) HasVCEK() bool {
	if e.Platform != PlatformSNP {
		return false
	}
	_, err := snpVCEK(e.Certs)
	return err == nil
}
