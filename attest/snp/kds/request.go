// Package kds finds the VCEK certificate for an AMD SEV-SNP attestation report
// that arrived without a certificate table: from an in-memory cache, a
// directory on disk, or AMD's Key Distribution Service (KDS). It also fetches
// the ARK's certificate revocation list for a product line.
//
// Nothing this package returns is trusted. A VCEK from the cache or the
// network is only a candidate: the verifier (donjon.dev/attest/snp) checks
// that it chains to a trusted AMD root, belongs to the report's chip and TCB,
// and signed the report. This package checks just enough (the bytes parse, the
// certificate names the right chip and TCB) to keep a wrong file out of the
// cache and to give a clear error early.
package kds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Product lines with a KDS endpoint, as they appear in KDS URLs.
const (
	Milan = "Milan"
	Genoa = "Genoa"
	Turin = "Turin"
)

// ErrReport: the report cannot name a VCEK (wrong size or version, no product
// line, masked chip id, not signed by a VCEK).
var ErrReport = errors.New("kds: cannot look up a VCEK for this report")

// Offsets in the SEV-SNP ATTESTATION_REPORT structure (SEV-SNP firmware ABI
// specification, table "ATTESTATION_REPORT Structure").
const (
	reportSize       = 0x4A0
	offVersion       = 0x00
	offSignerInfo    = 0x48
	offReportedTCB   = 0x180
	offCPUIDFamily   = 0x188 // version 3 and later
	offCPUIDModel    = 0x189
	offChipID        = 0x1A0
	chipIDSize       = 64
	turinHWIDSize    = 8 // Turin's KDS names a chip by the first 8 bytes of CHIP_ID
	minReportVersion = 2
	maxReportVersion = 5
)

// Signing keys in the report's signer info, bits 4:2.
const (
	signerVCEK = 0
	signerVLEK = 1
	signerNone = 7
)

// VCEKRequest names one VCEK in AMD's KDS: the product line, the chip and
// the TCB the firmware derived the signing key for. Make one with
// ParseReport; the zero value names nothing.
type VCEKRequest struct {
	product string
	chipID  [chipIDSize]byte
	tcb     uint64
}

// ParseReport reads the product line, CHIP_ID and REPORTED_TCB from a raw
// SEV-SNP attestation report. Version 3 and later reports carry the CPU
// family and model, which give the product line; version 2 reports do not,
// and then productHint ("Milan", "Genoa" or "Turin") is required. A hint that
// contradicts the report's CPUID is an error. Nothing in the report is
// verified here.
func ParseReport(report []byte, productHint string) (VCEKRequest, error) {
	if productHint != "" && !knownProduct(productHint) {
		return VCEKRequest{}, fmt.Errorf("kds: product %q is not Milan, Genoa or Turin: fix the product setting", productHint)
	}
	if len(report) != reportSize {
		return VCEKRequest{}, fmt.Errorf("%w: the report is %d bytes, an SEV-SNP report is %d: pass the raw report without its certificate table", ErrReport, len(report), reportSize)
	}
	version := binary.LittleEndian.Uint32(report[offVersion:])
	if version < minReportVersion || version > maxReportVersion {
		return VCEKRequest{}, fmt.Errorf("%w: report version %d, this code knows versions %d to %d", ErrReport, version, minReportVersion, maxReportVersion)
	}
	signerInfo := binary.LittleEndian.Uint32(report[offSignerInfo:])
	switch key := (signerInfo >> 2) & 7; key {
	case signerVCEK:
	case signerVLEK:
		return VCEKRequest{}, fmt.Errorf("%w: the report is signed by a VLEK, which only the cloud provider has: have the host supply the certificate table", ErrReport)
	case signerNone:
		return VCEKRequest{}, fmt.Errorf("%w: the report is not signed (signing key none): request a signed report", ErrReport)
	default:
		return VCEKRequest{}, fmt.Errorf("%w: the report names reserved signing key %d", ErrReport, key)
	}
	if signerInfo&2 != 0 {
		return VCEKRequest{}, fmt.Errorf("%w: the report has MASK_CHIP_KEY set, so no VCEK signed it: request a report without it", ErrReport)
	}

	var r VCEKRequest
	copy(r.chipID[:], report[offChipID:offChipID+chipIDSize])
	r.tcb = binary.LittleEndian.Uint64(report[offReportedTCB:])

	fromReport := ""
	if version >= 3 {
		family, model := report[offCPUIDFamily], report[offCPUIDModel]
		fromReport = productOfCPUID(family, model)
		if fromReport == "" && productHint == "" {
			return VCEKRequest{}, fmt.Errorf("%w: CPU family %#x model %#x is not a known SEV-SNP product: set the product (Milan, Genoa or Turin) explicitly", ErrReport, family, model)
		}
	}
	switch {
	case fromReport != "" && productHint != "" && fromReport != productHint:
		return VCEKRequest{}, fmt.Errorf("%w: the report's CPUID says %s but the product is set to %s: fix the product setting", ErrReport, fromReport, productHint)
	case fromReport != "":
		r.product = fromReport
	case productHint != "":
		r.product = productHint
	default:
		return VCEKRequest{}, fmt.Errorf("%w: a version %d report does not name its product line: set the product (Milan, Genoa or Turin) explicitly", ErrReport, version)
	}

	if allZero(r.HWID()) {
		return VCEKRequest{}, fmt.Errorf("%w: CHIP_ID is masked (all zeros) by the guest policy: have the host supply the certificate table", ErrReport)
	}
	return r, nil
}

// productOfCPUID maps a CPU family and model to the KDS product line, after
// AMD's KDS specification ("Determining the product name"). Bergamo and
// Siena are served under Genoa.
func productOfCPUID(family, model byte) string {
	switch family {
	case 0x19:
		switch {
		case model <= 0x0F:
			return Milan
		case model >= 0x10 && model <= 0x1F, model >= 0xA0 && model <= 0xAF:
			return Genoa
		}
	case 0x1A:
		if model <= 0x1F {
			return Turin
		}
	}
	return ""
}

func knownProduct(p string) bool { return p == Milan || p == Genoa || p == Turin }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Product is the KDS product line: "Milan", "Genoa" or "Turin".
func (r VCEKRequest) Product() string { return r.product }

// ChipID is the report's 64-byte CHIP_ID.
func (r VCEKRequest) ChipID() [64]byte { return r.chipID }

// TCB is the report's REPORTED_TCB, the TCB version the VCEK was derived for.
func (r VCEKRequest) TCB() uint64 { return r.tcb }

// HWID is the chip id as KDS takes it: all of CHIP_ID, or its first 8 bytes
// on Turin.
func (r VCEKRequest) HWID() []byte {
	if r.product == Turin {
		return r.chipID[:turinHWIDSize]
	}
	return r.chipID[:]
}

// spl is one security patch level of a TCB version: its KDS query name,
// the last arc of its VCEK extension OID (1.3.6.1.4.1.3704.1.3.N) and value.
type spl struct {
	name  string
	arc   int
	value uint8
}

// spls splits the TCB in the product's byte layout, in KDS query order.
// Milan and Genoa: bootloader, TEE, 4 reserved, SNP, microcode. Turin: FMC,
// bootloader, TEE, SNP, 3 reserved, microcode.
func (r VCEKRequest) spls() []spl {
	b := func(i uint) uint8 { return uint8(r.tcb >> (8 * i)) }
	if r.product == Turin {
		return []spl{{"fmcSPL", 9, b(0)}, {"blSPL", 1, b(1)}, {"teeSPL", 2, b(2)}, {"snpSPL", 3, b(3)}, {"ucodeSPL", 8, b(7)}}
	}
	return []spl{{"blSPL", 1, b(0)}, {"teeSPL", 2, b(1)}, {"snpSPL", 3, b(6)}, {"ucodeSPL", 8, b(7)}}
}

// Path is the KDS path and query of this VCEK, relative to the KDS base
// URL, e.g. "/vcek/v1/Milan/3ac3…6b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68".
func (r VCEKRequest) Path() string {
	var sb strings.Builder
	sb.WriteString("/vcek/v1/")
	sb.WriteString(r.product)
	sb.WriteByte('/')
	sb.WriteString(hex.EncodeToString(r.HWID()))
	for i, s := range r.spls() {
		if i == 0 {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('&')
		}
		fmt.Fprintf(&sb, "%s=%d", s.name, s.value)
	}
	return sb.String()
}

// CacheName is the file name of this VCEK in a cache directory's vcek/
// folder: the hex SHA-256 of Path, then ".der". Path covers the product,
// the chip and every TCB part KDS distinguishes, and only those.
func (r VCEKRequest) CacheName() string {
	sum := sha256.Sum256([]byte(r.Path()))
	return hex.EncodeToString(sum[:]) + ".der"
}

// String describes the request for logs and errors, briefly.
func (r VCEKRequest) String() string {
	hwid := hex.EncodeToString(r.HWID())
	var parts []string
	for _, s := range r.spls() {
		parts = append(parts, fmt.Sprintf("%s=%d", s.name, s.value))
	}
	return fmt.Sprintf("%s chip %s…%s at TCB %s", r.product, hwid[:8], hwid[len(hwid)-4:], strings.Join(parts, " "))
}
