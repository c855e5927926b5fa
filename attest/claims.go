package attest

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// Platform is the TEE technology behind evidence.
type Platform int

// Platforms, with the values of the ASN.1 ENUMERATED in the claims extension.
// Zero is deliberately not a platform, so a forgotten field is an error.
const (
	PlatformNil Platform = 1 // no TEE: development only, protects nothing
	PlatformSNP Platform = 2 // AMD SEV-SNP
	PlatformTDX Platform = 3 // Intel TDX
	PlatformSGX Platform = 4 // Intel SGX (Enarx keeps)
)

func (p Platform) String() string {
	switch p {
	case PlatformNil:
		return "nil"
	case PlatformSNP:
		return "snp"
	case PlatformTDX:
		return "tdx"
	case PlatformSGX:
		return "sgx"
	}
	return fmt.Sprintf("unknown(%d)", int(p))
}

func (p Platform) valid() bool { return p >= PlatformNil && p <= PlatformSGX }

// ClaimsVersion is the only claims extension version this code reads and
// writes. A change of meaning or layout takes a new version.
const ClaimsVersion = 1

// Limits on the claims extension, far above any real value, so that hostile
// input cannot make a parser allocate much.
const (
	MaxClaimsExtension = 1024 // bytes of DER
	maxClaimField      = 64   // bytes of TCB, measurement or platform id
)

// ErrClaims is wrapped by every error about a malformed or unusable claims
// extension.
var ErrClaims = errors.New("attest: bad claims extension")

// Claims are what a verifier concluded from a keep's evidence; a steward
// puts them in the certificates it issues (OIDClaims).
type Claims struct {
	Platform Platform
	// Insecure is true for the nil backend, whose "keep" is an ordinary
	// process: the host can read and change everything. It is never true
	// for a hardware platform.
	Insecure bool
	// Debug is the TEE's debug mode (SNP guest policy DEBUG, TDX
	// TDATTRIBUTES.DEBUG): the host can read and change the keep. Always
	// false for nil, which has no TEE; Insecure covers it.
	Debug bool
	// TCB is the platform's TCB version as the hardware signed it: for SNP the
	// 8-byte REPORTED_TCB (little-endian TCB_VERSION, as in the report), for
	// TDX the 16-byte TEE_TCB_SVN, for nil empty. Kept as raw bytes so that a
	// relying party compares exactly what the hardware reported.
	TCB []byte
	// Measurement is the launch measurement (SNP MEASUREMENT, TDX MRTD; 48
	// bytes), empty for nil.
	Measurement []byte
	// PlatformID identifies the chip or platform where available (SNP
	// CHIP_ID, 64 bytes; TDX FMSPC, 6 bytes); empty otherwise.
	PlatformID []byte
	// ModuleDigest and ConfigDigest are the SHA-256 digests of the workload's
	// wasm module and Donjon.toml, bound by the evidence's report data.
	// Both all-zero means the evidence bound no workload (an Enarx keep,
	// which attests only its key): see WorkloadBound.
	ModuleDigest [32]byte
	ConfigDigest [32]byte
	// Product is the SEV-SNP processor line the VCEK was issued for
	// ("Milan", "Genoa", "Turin"), which decides how TCB is read (see
	// snp.DecodeTCB). Empty for other platforms, and in a keep's own
	// statement before anything verified it.
	Product string
	// Plaintext tells that the workload has a channel that is not
	// protected: a plain TCP socket (prot = "tcp") or a plain host
	// directory. It is stated by the keep's runtime in its certificate
	// request (signed with the key the evidence binds), not by the
	// hardware; the config digest covers the setting.
	Plaintext bool
}

// WorkloadBound reports whether the evidence behind c binds a workload. Only
// donjon keeps bind one; Enarx keeps bind their key alone.
func (c *Claims) WorkloadBound() bool {
	return c.ModuleDigest != [32]byte{} || c.ConfigDigest != [32]byte{}
}

// claimsASN1 is the DER layout of the claims extension's value:
//
//	DonjonClaims ::= SEQUENCE {
//	  version      INTEGER (1),
//	  platform     ENUMERATED { nil(1), snp(2), tdx(3), sgx(4) },
//	  insecure     BOOLEAN,
//	  debug        BOOLEAN,
//	  tcb          OCTET STRING (SIZE(0..64)),
//	  measurement  OCTET STRING (SIZE(0..64)),
//	  platformID   OCTET STRING (SIZE(0..64)),
//	  moduleDigest OCTET STRING (SIZE(32)),
//	  configDigest OCTET STRING (SIZE(32)),
//	  product      UTF8String OPTIONAL, -- SNP only: "Milan", "Genoa", "Turin"
//	  plaintext    [0] EXPLICIT BOOLEAN OPTIONAL } -- absent when false
type claimsASN1 struct {
	Version      int
	Platform     asn1.Enumerated
	Insecure     bool
	Debug        bool
	TCB          []byte
	Measurement  []byte
	PlatformID   []byte
	ModuleDigest []byte
	ConfigDigest []byte
	Product      string `asn1:"optional,utf8"`
	// encoding/asn1 leaves out an optional field at its zero value, so
	// false is never encoded (DER forbids encoding a default).
	Plaintext bool `asn1:"optional,explicit,tag:0"`
}

// validate checks the rules both Marshal and ParseClaimsExtension enforce.
func (c *Claims) validate() error {
	if !c.Platform.valid() {
		return fmt.Errorf("%w: unknown platform %d", ErrClaims, int(c.Platform))
	}
	if c.Insecure != (c.Platform == PlatformNil) {
		return fmt.Errorf("%w: insecure=%t contradicts platform %s (insecure is true exactly for nil)", ErrClaims, c.Insecure, c.Platform)
	}
	if c.Platform == PlatformNil && c.Debug {
		return fmt.Errorf("%w: the nil platform has no debug mode", ErrClaims)
	}
	switch c.Product {
	case "":
	case "Milan", "Genoa", "Turin":
		if c.Platform != PlatformSNP {
			return fmt.Errorf("%w: product %q belongs to snp, not %s", ErrClaims, c.Product, c.Platform)
		}
	default:
		return fmt.Errorf("%w: unknown SNP product %.40q", ErrClaims, c.Product)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"tcb", c.TCB}, {"measurement", c.Measurement}, {"platform id", c.PlatformID}} {
		if len(f.b) > maxClaimField {
			return fmt.Errorf("%w: %s is %d bytes, at most %d allowed", ErrClaims, f.name, len(f.b), maxClaimField)
		}
	}
	return nil
}

// Marshal encodes c as the DER value of the claims extension.
func (c *Claims) Marshal() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(claimsASN1{
		Version:      ClaimsVersion,
		Platform:     asn1.Enumerated(c.Platform),
		Insecure:     c.Insecure,
		Debug:        c.Debug,
		TCB:          c.TCB,
		Measurement:  c.Measurement,
		PlatformID:   c.PlatformID,
		ModuleDigest: c.ModuleDigest[:],
		ConfigDigest: c.ConfigDigest[:],
		Product:      c.Product,
		Plaintext:    c.Plaintext,
	})
	if err != nil {
		return nil, fmt.Errorf("attest: encoding claims: %w", err)
	}
	return der, nil
}

// Extension returns c as a non-critical certificate extension (clients that
// do not know it must still accept the certificate).
func (c *Claims) Extension() (pkix.Extension, error) {
	der, err := c.Marshal()
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: OIDClaims, Value: der}, nil
}

// ParseClaimsExtension decodes the DER value of a claims extension. It accepts
// only the canonical DER encoding of version ClaimsVersion, with no trailing
// bytes, and returns a copy that does not alias der.
func ParseClaimsExtension(der []byte) (*Claims, error) {
	if len(der) > MaxClaimsExtension {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrClaims, len(der), MaxClaimsExtension)
	}
	// Read the version alone first, so a future version with another layout
	// is reported as such rather than as garbage.
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after the claims", ErrClaims, len(rest))
	}
	if outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence || !outer.IsCompound {
		return nil, fmt.Errorf("%w: not a SEQUENCE", ErrClaims)
	}
	var version int
	if _, err := asn1.Unmarshal(outer.Bytes, &version); err != nil {
		return nil, fmt.Errorf("%w: reading version: %v", ErrClaims, err)
	}
	if version != ClaimsVersion {
		return nil, fmt.Errorf("%w: version %d, this donjon reads only version %d; upgrade donjon", ErrClaims, version, ClaimsVersion)
	}

	var raw claimsASN1
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if len(raw.ModuleDigest) != 32 || len(raw.ConfigDigest) != 32 {
		return nil, fmt.Errorf("%w: workload digests must be 32 bytes (SHA-256), got %d and %d", ErrClaims, len(raw.ModuleDigest), len(raw.ConfigDigest))
	}
	c := &Claims{
		Platform:    Platform(raw.Platform),
		Insecure:    raw.Insecure,
		Debug:       raw.Debug,
		TCB:         bytes.Clone(raw.TCB),
		Measurement: bytes.Clone(raw.Measurement),
		PlatformID:  bytes.Clone(raw.PlatformID),
		Product:     raw.Product,
		Plaintext:   raw.Plaintext,
	}
	copy(c.ModuleDigest[:], raw.ModuleDigest)
	copy(c.ConfigDigest[:], raw.ConfigDigest)
	if err := c.validate(); err != nil {
		return nil, err
	}
	// encoding/asn1 tolerates some non-canonical forms (e.g. long-form
	// lengths); one value must have one encoding, so compare with ours.
	again, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, der) {
		return nil, fmt.Errorf("%w: not in canonical DER form", ErrClaims)
	}
	return c, nil
}

// ClaimsFromCertificate finds and decodes the claims extension in cert. It
// fails if there is none or more than one.
func ClaimsFromCertificate(cert *x509.Certificate) (*Claims, error) {
	if cert == nil {
		return nil, fmt.Errorf("%w: no certificate", ErrClaims)
	}
	return claimsFromExtensions(cert.Extensions)
}

func claimsFromExtensions(exts []pkix.Extension) (*Claims, error) {
	var found *pkix.Extension
	for i := range exts {
		if !exts[i].Id.Equal(OIDClaims) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: the claims extension appears twice", ErrClaims)
		}
		found = &exts[i]
	}
	if found == nil {
		return nil, fmt.Errorf("%w: there is no donjon claims extension (%s), so nothing states the workload", ErrClaims, OIDClaims)
	}
	return ParseClaimsExtension(found.Value)
}
