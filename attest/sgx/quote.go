package sgx

import (
	"encoding/binary"
	"fmt"
)

// Layout of an Intel SGX DCAP quote, version 3, ECDSA P-256 attestation key (Intel SGX ECDSA
// Quote Library API, appendix A). All integers are little-endian.
const (
	headerSize     = 48
	reportSize     = 384 // an SGX REPORT body: the ISV enclave's and the QE's
	sigDataLenAt   = headerSize + reportSize
	sigDataStart   = sigDataLenAt + 4
	rawSigSize     = 64 // ECDSA P-256 r||s, big-endian
	attestKeySize  = 64 // P-256 point X||Y, big-endian
	minSigDataSize = rawSigSize + attestKeySize + reportSize + rawSigSize + 2 + 6

	quoteVersion     = 3
	akTypeECDSAP256  = 2
	certTypePCKChain = 5 // certification data: PEM PCK leaf || intermediate || root

	// maxQuoteSize bounds untrusted input: a quote with its PEM PCK chain is about 5 KB.
	maxQuoteSize = 64 << 10
)

// intelQEVendorID is the QE vendor ID of Intel's quoting enclave.
const intelQEVendorID = "\x93\x9a\x72\x33\xf7\x9c\x4c\xa9\x94\x0a\x0d\xb3\x95\x7f\x06\x07"

// Offsets inside an SGX report body (Intel SDM, REPORT structure without KEYID and MAC).
const (
	repCPUSVN       = 0
	repMiscSelect   = 16
	repISVExtProdID = 32
	repAttributes   = 48
	repMREnclave    = 64
	repMRSigner     = 128
	repConfigID     = 192
	repISVProdID    = 256
	repISVSVN       = 258
	repConfigSVN    = 260
	repISVFamilyID  = 304
	repReportData   = 320
)

// attributeDebug is ATTRIBUTES.FLAGS bit 1: the enclave can be read and changed by a debugger.
const attributeDebug = 0x02

// rawQuote holds slices into a quote whose layout has been checked; nothing is verified yet.
type rawQuote struct {
	headerAndBody []byte // the bytes the attestation key signs
	header        []byte
	body          []byte // the ISV enclave report
	signature     []byte // quote signature, r||s
	attestKey     []byte // X||Y
	qeReport      []byte // the bytes the PCK key signs
	qeReportSig   []byte
	qeAuthData    []byte
	pckChainPEM   []byte
}

// parseQuote checks the v3 layout with explicit bounds; every length field is checked against
// what actually follows, and nothing may trail the signature data.
func parseQuote(b []byte) (*rawQuote, error) {
	if len(b) > maxQuoteSize {
		return nil, fmt.Errorf("%w: quote is %d bytes, limit %d", ErrMalformed, len(b), maxQuoteSize)
	}
	if len(b) < sigDataStart+minSigDataSize {
		return nil, fmt.Errorf("%w: quote is %d bytes, an SGX quote v3 has at least %d", ErrMalformed, len(b), sigDataStart+minSigDataSize)
	}
	if v := binary.LittleEndian.Uint16(b[0:2]); v != quoteVersion {
		return nil, fmt.Errorf("%w: quote version %d, only SGX quote version 3 is supported", ErrMalformed, v)
	}
	if t := binary.LittleEndian.Uint16(b[2:4]); t != akTypeECDSAP256 {
		return nil, fmt.Errorf("%w: attestation key type %d, want 2 (ECDSA P-256)", ErrMalformed, t)
	}
	if t := binary.LittleEndian.Uint32(b[4:8]); t != 0 {
		return nil, fmt.Errorf("%w: TEE type %#x, want 0 (SGX; TDX quotes are not SGX quotes)", ErrMalformed, t)
	}
	if string(b[12:28]) != intelQEVendorID {
		return nil, fmt.Errorf("%w: QE vendor ID %x is not Intel's quoting enclave", ErrMalformed, b[12:28])
	}
	q := &rawQuote{
		headerAndBody: b[:sigDataLenAt],
		header:        b[:headerSize],
		body:          b[headerSize:sigDataLenAt],
	}
	sigLen := uint64(binary.LittleEndian.Uint32(b[sigDataLenAt:sigDataStart]))
	if sigLen != uint64(len(b)-sigDataStart) {
		return nil, fmt.Errorf("%w: signature data claims %d bytes, %d follow", ErrMalformed, sigLen, len(b)-sigDataStart)
	}
	r := reader{buf: b[sigDataStart:]}
	q.signature = r.take(rawSigSize)
	q.attestKey = r.take(attestKeySize)
	q.qeReport = r.take(reportSize)
	q.qeReportSig = r.take(rawSigSize)
	q.qeAuthData = r.take(int(r.u16()))
	certType := r.u16()
	certSize := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("%w: signature data: %v", ErrMalformed, r.err)
	}
	if certType != certTypePCKChain {
		return nil, fmt.Errorf("%w: certification data type %d, want %d (PEM PCK certificate chain); quotes without the chain are not supported", ErrMalformed, certType, certTypePCKChain)
	}
	if uint64(certSize) != uint64(len(r.buf)) {
		return nil, fmt.Errorf("%w: certification data claims %d bytes, %d present", ErrMalformed, certSize, len(r.buf))
	}
	q.pckChainPEM = r.buf
	return q, nil
}

// reader consumes a byte slice front to back; the first short read sets err and every later
// read returns zero values, so callers check err once.
type reader struct {
	buf []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.buf) {
		r.err = fmt.Errorf("truncated: need %d bytes, %d left", n, len(r.buf))
		return nil
	}
	out := r.buf[:n:n]
	r.buf = r.buf[n:]
	return out
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// report is a parsed SGX report body; byte fields alias the quote until copied by claims.
type report struct {
	cpuSVN       []byte
	miscSelect   uint32
	isvExtProdID []byte
	attributes   []byte
	mrEnclave    []byte
	mrSigner     []byte
	configID     []byte
	isvProdID    uint16
	isvSVN       uint16
	configSVN    uint16
	isvFamilyID  []byte
	reportData   []byte
}

// parseReport reads a report body of exactly reportSize bytes (parseQuote guarantees the size).
func parseReport(b []byte) report {
	return report{
		cpuSVN:       b[repCPUSVN : repCPUSVN+16],
		miscSelect:   binary.LittleEndian.Uint32(b[repMiscSelect:]),
		isvExtProdID: b[repISVExtProdID : repISVExtProdID+16],
		attributes:   b[repAttributes : repAttributes+16],
		mrEnclave:    b[repMREnclave : repMREnclave+32],
		mrSigner:     b[repMRSigner : repMRSigner+32],
		configID:     b[repConfigID : repConfigID+64],
		isvProdID:    binary.LittleEndian.Uint16(b[repISVProdID:]),
		isvSVN:       binary.LittleEndian.Uint16(b[repISVSVN:]),
		configSVN:    binary.LittleEndian.Uint16(b[repConfigSVN:]),
		isvFamilyID:  b[repISVFamilyID : repISVFamilyID+16],
		reportData:   b[repReportData : repReportData+64],
	}
}

func (r report) debug() bool { return r.attributes[0]&attributeDebug != 0 }
