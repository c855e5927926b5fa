// Package snp verifies AMD SEV-SNP attestation reports: the VCEK chains to a
// trusted AMD root, the report is signed by that VCEK, and the result is a
// set of claims. Appraising the claims against a policy is a separate step
// (Check). Everything here is a pure function of bytes, roots and a clock.
package snp

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
)

// Sentinel errors: every error from Verify wraps exactly one of them, so a
// caller can tell a forgery from a stale clock from garbage input.
var (
	// ErrMalformed: the report, certificate or CRL bytes do not parse.
	ErrMalformed = errors.New("snp: malformed evidence")
	// ErrUnsupported: well-formed evidence this verifier does not handle yet.
	ErrUnsupported = errors.New("snp: unsupported evidence")
	// ErrUntrustedChain: the VCEK does not chain to a trusted ARK/ASK, or does
	// not belong to the chip and TCB the report names.
	ErrUntrustedChain = errors.New("snp: untrusted certificate chain")
	// ErrExpired: a certificate or CRL is not valid at Options.Now.
	ErrExpired = errors.New("snp: not valid at the verification time")
	// ErrRevoked: a CRL from the trusted ARK or ASK revokes the ASK or VCEK.
	ErrRevoked = errors.New("snp: certificate revoked")
	// ErrNoCRL: Options.RequireCRL is set and no CRL from the chain was given.
	ErrNoCRL = errors.New("snp: no applicable CRL")
	// ErrBadSignature: the report signature does not verify with the VCEK.
	ErrBadSignature = errors.New("snp: bad report signature")
)

// Options are the trust anchors and clock for one verification.
type Options struct {
	// Now is the time at which certificates and CRLs must be valid. Required.
	Now time.Time
	// Roots are the trusted ARK/ASK pairs; nil means DefaultRoots().
	Roots []Root
	// CRLs are revocation lists to apply. Lists issued by the chain's ARK or
	// ASK must verify, be current and not revoke the ASK or VCEK; lists from
	// other issuers (e.g. another product line) are ignored.
	CRLs []*x509.RevocationList
	// RequireCRL rejects evidence unless a CRL from the chain's ARK is given.
	RequireCRL bool
	// Product, when set ("Milan", "Genoa", "Turin"), is the only product line
	// accepted.
	Product string
}

// TCB is an SEV-SNP TCB_VERSION with its security patch levels split out.
// The byte layout differs between Milan/Genoa and Turin; FMC exists on Turin only.
type TCB struct {
	Raw        uint64
	FMC        uint8
	Bootloader uint8
	TEE        uint8
	SNP        uint8
	Microcode  uint8
}

// DecodeTCB splits a raw TCB_VERSION (as in a report, little-endian) into its
// parts for product ("Milan", "Genoa" or "Turin"; anything else is read with
// the Milan/Genoa layout).
func DecodeTCB(product string, raw uint64) TCB {
	b := func(i uint) uint8 { return uint8(raw >> (8 * i)) }
	if product == Turin {
		return TCB{Raw: raw, FMC: b(0), Bootloader: b(1), TEE: b(2), SNP: b(3), Microcode: b(7)}
	}
	return TCB{Raw: raw, Bootloader: b(0), TEE: b(1), SNP: b(6), Microcode: b(7)}
}

func (t TCB) String() string {
	return fmt.Sprintf("bootloader=%d tee=%d snp=%d microcode=%d fmc=%d", t.Bootloader, t.TEE, t.SNP, t.Microcode, t.FMC)
}

// GuestPolicy is the launch policy the guest owner set, as the firmware enforces it.
type GuestPolicy struct {
	Raw          uint64
	ABIMajor     uint8
	ABIMinor     uint8
	SMT          bool
	MigrateMA    bool
	Debug        bool // the host may decrypt and change guest memory
	SingleSocket bool
}

// Firmware is an AMD-SP firmware version.
type Firmware struct {
	Major, Minor, Build uint8
}

func (f Firmware) String() string { return fmt.Sprintf("%d.%d.%d", f.Major, f.Minor, f.Build) }

// Claims are what a verified report says. Every field comes from signed bytes
// except Product, which comes from the report (v3) or the verified VCEK (v2).
type Claims struct {
	Version           uint32
	Product           string
	GuestSVN          uint32
	Policy            GuestPolicy
	FamilyID          [abi.FamilyIDSize]byte
	ImageID           [abi.ImageIDSize]byte
	VMPL              uint32
	PlatformInfo      uint64
	ReportData        [abi.ReportDataSize]byte
	Measurement       [abi.MeasurementSize]byte
	HostData          [abi.HostDataSize]byte
	IDKeyDigest       [abi.IDKeyDigestSize]byte
	AuthorKeyDigest   [abi.AuthorKeyDigestSize]byte
	ReportID          [abi.ReportIDSize]byte
	ChipID            [abi.ChipIDSize]byte
	ReportedTCB       TCB // the TCB the VCEK was derived for
	CurrentTCB        TCB
	CommittedTCB      TCB
	LaunchTCB         TCB
	CurrentFirmware   Firmware
	CommittedFirmware Firmware
}

// maxCertDER bounds a VCEK given to Verify; real ones are about 1.4 KB.
const maxCertDER = 16 << 10

// Verify checks a raw SEV-SNP attestation report (versions 2 and 3) signed by
// the VCEK in vcekDER against opts and returns its claims. It checks
// authenticity only; appraise the claims with Check.
func Verify(report, vcekDER []byte, opts Options) (*Claims, error) {
	if opts.Now.IsZero() {
		return nil, errors.New("snp: Options.Now is required: pass the verification time explicitly")
	}
	r, err := parseReport(report)
	if err != nil {
		return nil, err
	}
	if len(vcekDER) > maxCertDER {
		return nil, fmt.Errorf("%w: VCEK is %d bytes, limit %d", ErrMalformed, len(vcekDER), maxCertDER)
	}
	vcek, err := x509.ParseCertificate(vcekDER)
	if err != nil {
		return nil, fmt.Errorf("%w: VCEK certificate: %v", ErrMalformed, err)
	}
	exts, err := kds.VcekCertificateExtensions(vcek)
	if err != nil {
		return nil, fmt.Errorf("%w: VCEK certificate lacks AMD's extensions: %v", ErrUntrustedChain, err)
	}
	product, err := productLine(r, exts)
	if err != nil {
		return nil, err
	}
	if opts.Product != "" && opts.Product != product {
		return nil, fmt.Errorf("%w: evidence is from %s, only %s is accepted", ErrUntrustedChain, product, opts.Product)
	}
	root, err := chainToRoot(vcek, product, opts)
	if err != nil {
		return nil, err
	}
	if err := checkCRLs(root, vcek, opts); err != nil {
		return nil, err
	}
	if err := verify.SnpReportSignature(report, vcek); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if err := bindVCEK(r, exts); err != nil {
		return nil, err
	}
	// go-sev-guest adds the checks of AMD's KDS certificate profile (subject,
	// issuer names, key type). Its options are mutated during a call, so
	// they are built here, per call, and never cached.
	sevOpts := &verify.Options{
		DisableCertFetching: true,
		Now:                 opts.Now,
		TrustedRoots: map[string][]*trust.AMDRootCerts{product: {{
			ProductLine:  product,
			ProductCerts: &trust.ProductCerts{Ark: root.ARK, Ask: root.ASK},
		}}},
	}
	attestation := &spb.Attestation{
		Report:           r,
		CertificateChain: &spb.CertificateChain{VcekCert: vcekDER, AskCert: root.ASK.Raw, ArkCert: root.ARK.Raw},
	}
	if err := verify.SnpAttestation(attestation, sevOpts); err != nil {
		return nil, fmt.Errorf("%w: VCEK does not fit AMD's certificate profile: %v", ErrUntrustedChain, err)
	}
	return claimsOf(r, product), nil
}

// parseReport checks the size, version, signer and signature algorithm
// before go-sev-guest decodes the fields.
func parseReport(report []byte) (*spb.Report, error) {
	if len(report) != abi.ReportSize {
		return nil, fmt.Errorf("%w: report is %d bytes, want %d", ErrMalformed, len(report), abi.ReportSize)
	}
	if v := binary.LittleEndian.Uint32(report[0:4]); v != abi.ReportVersion2 && v != abi.ReportVersion3 {
		return nil, fmt.Errorf("%w: report version %d (this verifier handles versions 2 and 3)", ErrUnsupported, v)
	}
	r, err := abi.ReportToProto(report)
	if err != nil {
		return nil, fmt.Errorf("%w: report: %v", ErrMalformed, err)
	}
	if r.SignatureAlgo != abi.SignEcdsaP384Sha384 {
		return nil, fmt.Errorf("%w: signature algorithm %d, want %d (ECDSA P-384 with SHA-384)", ErrMalformed, r.SignatureAlgo, abi.SignEcdsaP384Sha384)
	}
	info, err := abi.ParseSignerInfo(r.SignerInfo)
	if err != nil {
		return nil, fmt.Errorf("%w: signer info: %v", ErrMalformed, err)
	}
	if info.SigningKey != abi.VcekReportSigner {
		return nil, fmt.Errorf("%w: report signed by %v; only VCEK-signed reports are handled", ErrUnsupported, info.SigningKey)
	}
	return r, nil
}

// productLine takes the product from the report's CPUID (v3) or, for v2
// reports, from the VCEK's product-name extension (checked against the roots
// later). When both exist they must agree.
func productLine(r *spb.Report, exts *kds.Extensions) (string, error) {
	fromCert := ""
	if p, err := kds.ParseProductName(exts.ProductName, abi.VcekReportSigner); err == nil {
		fromCert = kds.ProductLine(p)
	}
	if fms := r.GetCpuid1EaxFms(); fms != 0 {
		fromReport := kds.ProductLineFromFms(fms)
		if fromReport != Milan && fromReport != Genoa && fromReport != Turin {
			return "", fmt.Errorf("%w: report CPUID %#x is not a known SEV-SNP product", ErrUnsupported, fms)
		}
		return fromReport, nil
	}
	if fromCert == "" {
		return "", fmt.Errorf("%w: VCEK product name %q is not a known SEV-SNP product", ErrUntrustedChain, exts.ProductName)
	}
	return fromCert, nil
}

// chainToRoot verifies the VCEK against each trusted root of its product line
// and returns the first that works.
func chainToRoot(vcek *x509.Certificate, product string, opts Options) (Root, error) {
	roots := opts.Roots
	if roots == nil {
		roots = DefaultRoots()
	}
	if err := validAt(vcek, "VCEK", opts.Now); err != nil {
		return Root{}, err
	}
	var lastErr error
	tried := 0
	for _, root := range roots {
		if root.Product != product || root.ARK == nil || root.ASK == nil {
			continue
		}
		tried++
		arks, asks := x509.NewCertPool(), x509.NewCertPool()
		arks.AddCert(root.ARK)
		asks.AddCert(root.ASK)
		_, err := vcek.Verify(x509.VerifyOptions{
			Roots:         arks,
			Intermediates: asks,
			CurrentTime:   opts.Now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err == nil {
			return root, nil
		}
		lastErr = err
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			lastErr = fmt.Errorf("%w: %v", ErrExpired, err)
		}
	}
	if tried == 0 {
		return Root{}, fmt.Errorf("%w: no trusted root for product %s", ErrUntrustedChain, product)
	}
	if errors.Is(lastErr, ErrExpired) {
		return Root{}, lastErr
	}
	return Root{}, fmt.Errorf("%w: VCEK does not chain to a trusted %s ARK/ASK: %v", ErrUntrustedChain, product, lastErr)
}

func validAt(cert *x509.Certificate, name string, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: %s is valid from %s, verification time is %s", ErrExpired, name, cert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: %s expired at %s, verification time is %s", ErrExpired, name, cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkCRLs applies the CRLs issued by the chain's ARK (which revokes ASKs)
// or ASK (which could revoke VCEKs; AMD says it does not, TCB versions
// supersede them, but honouring one costs nothing).
func checkCRLs(root Root, vcek *x509.Certificate, opts Options) error {
	fromARK := false
	for i, crl := range opts.CRLs {
		if crl == nil {
			continue
		}
		var issuer, subject *x509.Certificate
		var issuerName, subjectName string
		switch {
		case bytes.Equal(crl.RawIssuer, root.ARK.RawSubject):
			issuer, subject, issuerName, subjectName = root.ARK, root.ASK, "ARK", "ASK"
		case bytes.Equal(crl.RawIssuer, root.ASK.RawSubject):
			issuer, subject, issuerName, subjectName = root.ASK, vcek, "ASK", "VCEK"
		default:
			continue // another product line's list
		}
		if err := crl.CheckSignatureFrom(issuer); err != nil {
			return fmt.Errorf("%w: CRL %d names the %s %s as issuer but does not verify with it: %v", ErrUntrustedChain, i, root.Product, issuerName, err)
		}
		if opts.Now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && opts.Now.After(crl.NextUpdate)) {
			return fmt.Errorf("%w: %s CRL %d covers %s..%s, verification time is %s", ErrExpired, issuerName, i,
				crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), opts.Now.UTC().Format(time.RFC3339))
		}
		for _, revoked := range crl.RevokedCertificateEntries {
			if revoked.SerialNumber != nil && revoked.SerialNumber.Cmp(subject.SerialNumber) == 0 {
				return fmt.Errorf("%w: the %s CRL revokes the %s (serial %s) as of %s", ErrRevoked, issuerName, subjectName,
					subject.SerialNumber, revoked.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
		if issuer == root.ARK {
			fromARK = true
		}
	}
	if opts.RequireCRL && !fromARK {
		return fmt.Errorf("%w: a CRL signed by the %s ARK is required; fetch it from AMD KDS (%s)", ErrNoCRL, root.Product, kds.CrlLinkByRole(root.Product, "ASK"))
	}
	return nil
}

// bindVCEK checks that the VCEK belongs to the chip and TCB the report names:
// the firmware signs with the key derived for REPORTED_TCB on this chip.
func bindVCEK(r *spb.Report, exts *kds.Extensions) error {
	if len(exts.HWID) != abi.ChipIDSize {
		return fmt.Errorf("%w: VCEK hardware id is %d bytes, want %d", ErrUntrustedChain, len(exts.HWID), abi.ChipIDSize)
	}
	// A guest policy can mask the chip id to zeros; then only the signature ties them.
	if !allZero(r.ChipId) && !bytes.Equal(r.ChipId, exts.HWID) {
		return fmt.Errorf("%w: VCEK is for another chip than the report's CHIP_ID", ErrUntrustedChain)
	}
	if uint64(exts.TCBVersion) != r.ReportedTcb {
		return fmt.Errorf("%w: VCEK is for TCB %#016x, the report claims REPORTED_TCB %#016x", ErrUntrustedChain, uint64(exts.TCBVersion), r.ReportedTcb)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func claimsOf(r *spb.Report, product string) *Claims {
	c := &Claims{
		Version:      r.Version,
		Product:      product,
		GuestSVN:     r.GuestSvn,
		VMPL:         r.Vmpl,
		PlatformInfo: r.PlatformInfo,
		ReportedTCB:  DecodeTCB(product, r.ReportedTcb),
		CurrentTCB:   DecodeTCB(product, r.CurrentTcb),
		CommittedTCB: DecodeTCB(product, r.CommittedTcb),
		LaunchTCB:    DecodeTCB(product, r.LaunchTcb),
		CurrentFirmware: Firmware{
			Major: uint8(r.CurrentMajor), Minor: uint8(r.CurrentMinor), Build: uint8(r.CurrentBuild),
		},
		CommittedFirmware: Firmware{
			Major: uint8(r.CommittedMajor), Minor: uint8(r.CommittedMinor), Build: uint8(r.CommittedBuild),
		},
	}
	// ReportToProto already rejected policies with reserved bits wrong.
	p, _ := abi.ParseSnpPolicy(r.Policy)
	c.Policy = GuestPolicy{
		Raw: r.Policy, ABIMajor: p.ABIMajor, ABIMinor: p.ABIMinor,
		SMT: p.SMT, MigrateMA: p.MigrateMA, Debug: p.Debug, SingleSocket: p.SingleSocket,
	}
	copy(c.FamilyID[:], r.FamilyId)
	copy(c.ImageID[:], r.ImageId)
	copy(c.ReportData[:], r.ReportData)
	copy(c.Measurement[:], r.Measurement)
	copy(c.HostData[:], r.HostData)
	copy(c.IDKeyDigest[:], r.IdKeyDigest)
	copy(c.AuthorKeyDigest[:], r.AuthorKeyDigest)
	copy(c.ReportID[:], r.ReportId)
	copy(c.ChipID[:], r.ChipId)
	return c
}
