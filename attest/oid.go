// Package attest holds what every donjon attestation path shares: donjon's
// object identifiers, the report-data binding of a keep's key and workload,
// the claims a certificate carries, and the nil backend's (insecure) evidence.
// Platform verifiers live in attest/snp and attest/tdx. Everything here is a
// pure function of its arguments.
package attest

import "encoding/asn1"

// Every donjon OID is defined in this file and nowhere else.
//
// donjon's arc was minted once from the random UUID
//
//	dca21ad5-b9f2-48b2-ba61-e99cc134b78f
//
// whose ITU-T X.667 OID is ArcX667 (2.25.<the UUID as one decimal integer>).
// That canonical arc cannot be used on the wire with Go: crypto/x509 (via
// cryptobyte) rejects any certificate or CSR with an OID arc of 2^31 or more
// ("x509: malformed extension OID field"), and asn1.ObjectIdentifier cannot
// even hold a 128-bit arc. A certificate using it would break every Go TLS
// client. So, until donjon has an IANA Private Enterprise Number, the wire arc
// is Arc: 2.25.<the UUID's top 31 bits>. Under X.667 that is the arc of the
// UUID 00000000-0000-0000-0000-00006e510d6a, which has version 0 and which no
// conforming UUID generator produces, so no legitimately minted 2.25 arc can
// collide with it. Replacing Arc (one line) moves every donjon OID.
const (
	// ArcUUID is the UUID donjon's arc was minted from.
	ArcUUID = "dca21ad5-b9f2-48b2-ba61-e99cc134b78f"
	// ArcX667 is the canonical X.667 OID of ArcUUID (see TestArcDerivation).
	ArcX667 = "2.25.293271855439560074769027485852784441231"
	// arcTop31 is ArcUUID >> 97: the UUID's 31 most significant bits.
	arcTop31 = 1850805610
)

// Arc is the root under which every donjon OID lives.
var Arc = asn1.ObjectIdentifier{2, 25, arcTop31}

var (
	// OIDEvidence is the CSR or certificate extension carrying a keep's
	// evidence (Arc.1).
	OIDEvidence = sub(Arc, 1)
	// OIDClaims is the certificate extension carrying verified Claims
	// (Arc.2); see ParseClaimsExtension.
	OIDClaims = sub(Arc, 2)
	// OIDEvidenceFormats is the arc naming evidence formats (Arc.3), used to
	// tag what OIDEvidence carries.
	OIDEvidenceFormats = sub(Arc, 3)
	// OIDFormatNil is the nil backend's evidence (see NilEvidence).
	OIDFormatNil = sub(OIDEvidenceFormats, 1)
	// OIDFormatSNP is a raw AMD SEV-SNP attestation report with its certificate table.
	OIDFormatSNP = sub(OIDEvidenceFormats, 2)
	// OIDFormatTDX is a raw Intel TDX quote (version 4).
	OIDFormatTDX = sub(OIDEvidenceFormats, 3)
)

// Enarx's CSR evidence extensions (Profian's enterprise arc), accepted from
// Enarx keeps.
var (
	OIDEnarxKVM = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 58270, 1, 1}
	OIDEnarxSGX = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 58270, 1, 2}
	OIDEnarxSNP = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 58270, 1, 3}
)

// sub returns a fresh copy of parent extended by arc, so no two OIDs share a
// backing array that an append elsewhere could overwrite.
func sub(parent asn1.ObjectIdentifier, arc int) asn1.ObjectIdentifier {
	out := make(asn1.ObjectIdentifier, 0, len(parent)+1)
	out = append(out, parent...)
	return append(out, arc)
}
