package tdx

import (
	"encoding/binary"
	"fmt"
)

// Layout of an Intel TDX DCAP quote, version 4 (Intel TDX DCAP Quoting Library API, appendix A).
// All integers are little-endian.
const (
	headerSize      = 48
	bodySize        = 584
	signedStart     = headerSize + bodySize + 4 // after the u32 signed-data size
	qeReportSize    = 384
	rawSigSize      = 64 // ECDSA P-256 r||s, big-endian
	attestKeySize   = 64 // P-256 point X||Y, big-endian
	quoteVersion    = 4
	akTypeECDSAP256 = 2
	teeTypeTDX      = 0x81

	certTypeQEReport = 6 // certification data: QE report certification data
	certTypePCKChain = 5 // certification data: PEM PCK leaf || intermediate || root
)

// Offsets inside the TD quote body.
const (
	bodyTEETCBSVN     = 0
	bodyMRSEAM        = 16
	bodyMRSignerSEAM  = 64
	bodySEAMAttrs     = 112
	bodyTDAttributes  = 120
	bodyXFAM          = 128
	bodyMRTD          = 136
	bodyMRConfigID    = 184
	bodyMROwner       = 232
	bodyMROwnerConfig = 280
	bodyRTMR0         = 328
	bodyReportData    = 520
)

// rawQuote holds slices into a quote whose layout has been checked; nothing is verified yet.
type rawQuote struct {
	headerAndBody []byte // the bytes the attestation key signs
	header        []byte
	body          []byte
	signature     []byte // quote signature, r||s
	attestKey     []byte // X||Y
	qeReport      []byte // the bytes the PCK key signs
	qeReportSig   []byte
	qeAuthData    []byte
	pckChainPEM   []byte
}

// parseQuote checks the v4 layout with explicit bounds so that no later parser (ours or
// go-tdx-guest's) sees a short or inconsistent buffer.
func parseQuote(b []byte) (*rawQuote, error) {
	if len(b) < signedStart {
		return nil, fmt.Errorf("%w: quote is %d bytes, a TDX quote v4 has at least %d", ErrMalformed, len(b), signedStart)
	}
	if v := binary.LittleEndian.Uint16(b[0:2]); v != quoteVersion {
		return nil, fmt.Errorf("%w: quote version %d, only version 4 is supported", ErrMalformed, v)
	}
	if t := binary.LittleEndian.Uint16(b[2:4]); t != akTypeECDSAP256 {
		return nil, fmt.Errorf("%w: attestation key type %d, want 2 (ECDSA P-256)", ErrMalformed, t)
	}
	if t := binary.LittleEndian.Uint32(b[4:8]); t != teeTypeTDX {
		return nil, fmt.Errorf("%w: TEE type %#x, want %#x (TDX; SGX quotes are not TDX quotes)", ErrMalformed, t, teeTypeTDX)
	}
	q := &rawQuote{
		headerAndBody: b[:headerSize+bodySize],
		header:        b[:headerSize],
		body:          b[headerSize : headerSize+bodySize],
	}
	signedLen := uint64(binary.LittleEndian.Uint32(b[headerSize+bodySize : signedStart]))
	if signedLen > uint64(len(b)-signedStart) {
		return nil, fmt.Errorf("%w: signed data claims %d bytes, only %d follow", ErrMalformed, signedLen, len(b)-signedStart)
	}
	// Bytes after the signed data are neither signed nor parsed (go-tdx-guest keeps them as
	// "extra bytes"); they are ignored.
	s := b[signedStart : signedStart+int(signedLen)]
	r := reader{buf: s}
	q.signature = r.take(rawSigSize)
	q.attestKey = r.take(attestKeySize)
	if certType := r.u16(); r.err == nil && certType != certTypeQEReport {
		return nil, fmt.Errorf("%w: certification data type %d, want %d (QE report)", ErrMalformed, certType, certTypeQEReport)
	}
	if size := r.u32(); r.err == nil && uint64(size) != uint64(len(r.buf)) {
		return nil, fmt.Errorf("%w: certification data claims %d bytes, %d present", ErrMalformed, size, len(r.buf))
	}
	q.qeReport = r.take(qeReportSize)
	q.qeReportSig = r.take(rawSigSize)
	q.qeAuthData = r.take(int(r.u16()))
	if certType := r.u16(); r.err == nil && certType != certTypePCKChain {
		return nil, fmt.Errorf("%w: inner certification data type %d, want %d (PCK certificate chain)", ErrMalformed, certType, certTypePCKChain)
	}
	if size := r.u32(); r.err == nil && uint64(size) != uint64(len(r.buf)) {
		return nil, fmt.Errorf("%w: PCK certificate chain claims %d bytes, %d present", ErrMalformed, size, len(r.buf))
	}
	q.pckChainPEM = r.buf
	if r.err != nil {
		return nil, fmt.Errorf("%w: signed data: %v", ErrMalformed, r.err)
	}
	return q, nil
}

// reader consumes a byte slice front to back; the first short read sets err and every
// later read returns zero values, so callers check err once.
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
	out := r.buf[:n]
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
