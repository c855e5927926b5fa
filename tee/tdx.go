package tee

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
)

// TDXPlatform is an Intel TDX guest (a trust domain) reached through the
// Linux configfs-tsm report interface, whose tdx_guest provider turns a TD
// report into a quote with the host's quote generation service. The same
// code runs on hardware and in tests: only the configfsi.Client differs.
type TDXPlatform struct {
	tsm configfsi.Client
}

// NewTDX returns the TDX backend over a configfs-tsm client. Tests pass
// go-configfs-tsm's fake (see teetest.NewFakeTDX); OpenTDX passes the real
// configfs.
func NewTDX(tsm configfsi.Client) *TDXPlatform { return &TDXPlatform{tsm: tsm} }

// OpenTDX returns the TDX backend over this machine's configfs-tsm.
func OpenTDX() (*TDXPlatform, error) {
	tsm, err := linuxtsm.MakeClient()
	if err != nil {
		return nil, fmt.Errorf("%w: tdx: configfs-tsm %s: %v: %s", ErrUnavailable, pathTSMReport, bare(err), tdxTSMHint)
	}
	return NewTDX(tsm), nil
}

const tdxTSMHint = "run donjon in a TDX guest whose kernel has configfs-tsm (6.7+) and the tdx-guest driver, with configfs mounted at /sys/kernel/config"

var tdxTSM = tsmBackend{
	name:          "tdx",
	provider:      providerTDX,
	wrongProvider: "this is not a TDX guest (for sev_guest use the snp backend)",
	hint:          tdxTSMHint,
	ioError:       "no quote (I/O error): the host's quote generation service (QGS) may be missing or down; check the kernel log (dmesg) for tdx_guest messages",
}

// The TDX quote version 4 layout, as far as this backend reads it: a
// 48-byte header, the 584-byte TD report body, a 4-byte signature data
// length, then the signature data (ECDSA signature, attestation key, QE
// report and certification data).
const (
	tdxHeaderSize       = 48
	tdxBodySize         = 584
	tdxMinQuoteSize     = tdxHeaderSize + tdxBodySize + 4
	tdxReportDataOffset = tdxHeaderSize + 520
	tdxQuoteVersion     = 4
	tdxTEEType          = 0x81
	// tdxMaxQuoteSize bounds what is accepted. Real quotes, with their PEM
	// PCK chain, are about 5 KB.
	tdxMaxQuoteSize = 64 << 10
)

// Name implements Platform.
func (*TDXPlatform) Name() Backend { return TDX }

// Evidence implements Platform: it writes reportData as the inblob of a new
// report entry, reads back the quote (outblob), and checks that it comes
// from the tdx_guest provider, is a bounded quote version 4 for a TD and
// carries exactly reportData. TDX has no certificate table: the PCK chain
// is inside the quote.
//
// configfs writes block in the kernel while the host makes the quote;
// ctx is checked before and after the request and cannot interrupt it.
func (p *TDXPlatform) Evidence(ctx context.Context, reportData [ReportDataSize]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tdx evidence: %w", err)
	}
	resp, err := getTSMReport(ctx, p.tsm, tdxTSM, &report.Request{InBlob: bytes.Clone(reportData[:])})
	if err != nil {
		return nil, err
	}
	if err := checkTDXQuote(resp.OutBlob, reportData); err != nil {
		return nil, err
	}
	return &Evidence{
		Format:     FormatTDX,
		ReportData: reportData,
		Report:     bytes.Clone(resp.OutBlob),
	}, nil
}

// checkTDXQuote checks what the kernel returned as a quote before anyone
// relies on it: size, version, TEE type, and that it answers this request.
// The signatures are the verifier's business (package attest/tdx).
func checkTDXQuote(quote []byte, reportData [ReportDataSize]byte) error {
	if len(quote) < tdxMinQuoteSize || len(quote) > tdxMaxQuoteSize {
		return fmt.Errorf("%w: tdx evidence: quote is %d bytes, want %d to %d", ErrBadResponse, len(quote), tdxMinQuoteSize, tdxMaxQuoteSize)
	}
	if v := binary.LittleEndian.Uint16(quote[0:2]); v != tdxQuoteVersion {
		return fmt.Errorf("%w: tdx evidence: quote version %d, donjon supports version %d", ErrBadResponse, v, tdxQuoteVersion)
	}
	if t := binary.LittleEndian.Uint32(quote[4:8]); t != tdxTEEType {
		return fmt.Errorf("%w: tdx evidence: quote TEE type %#x, want %#x (TDX)", ErrBadResponse, t, tdxTEEType)
	}
	if got := quote[tdxReportDataOffset : tdxReportDataOffset+ReportDataSize]; !bytes.Equal(got, reportData[:]) {
		return fmt.Errorf("%w: tdx evidence: the quote carries other report data than requested: another process may share the entry; retry", ErrBadResponse)
	}
	return nil
}

// SealingKey implements Platform. TDX derives no sealing keys in hardware:
// a TD gets its sealing key from the steward, which releases it only to a
// keep whose quote it verified.
func (*TDXPlatform) SealingKey(ctx context.Context, purpose string) ([]byte, error) {
	return nil, fmt.Errorf("%w: tdx: TDX hardware derives no sealing keys: configure a steward (steward = URL), which releases keys to the keeps it certified", ErrNoSealingKey)
}
