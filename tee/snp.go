package tee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
	"github.com/google/go-sev-guest/abi"
)

// SNPPlatform is an AMD SEV-SNP guest reached through the Linux configfs-tsm
// report interface (/sys/kernel/config/tsm/report, kernel 6.7+). The same
// code runs on hardware and in tests: only the configfsi.Client differs.
type SNPPlatform struct {
	client configfsi.Client
}

// NewSNP returns the SNP backend over client. Tests pass go-configfs-tsm's
// fake; OpenSNP passes the real configfs.
func NewSNP(client configfsi.Client) *SNPPlatform { return &SNPPlatform{client: client} }

// OpenSNP returns the SNP backend over this machine's configfs-tsm.
func OpenSNP() (*SNPPlatform, error) {
	client, err := linuxtsm.MakeClient()
	if err != nil {
		return nil, fmt.Errorf("%w: snp: configfs-tsm %s: %v: %s", ErrUnavailable, pathTSMReport, bare(err), snpTSMHint)
	}
	return NewSNP(client), nil
}

const (
	// snpPrivLevel is the VMPL the report is requested for: 0, the guest
	// kernel's own level, since donjon runs without an SVSM.
	snpPrivLevel = 0
	snpTSMHint   = "run donjon in an SEV-SNP guest whose kernel has configfs-tsm (6.7+) and the sev-guest driver, with configfs mounted at /sys/kernel/config"
)

// Name implements Platform.
func (*SNPPlatform) Name() Backend { return SNP }

// Evidence implements Platform: it writes reportData as the inblob of a new
// report entry, reads back the report (outblob) and the host's certificate
// table (auxblob), and checks that the report is the right size, comes
// from the sev_guest provider and carries exactly reportData.
//
// configfs writes are blocking system calls; ctx is checked before and
// after the request, which is short, and cannot interrupt it.
func (p *SNPPlatform) Evidence(ctx context.Context, reportData [ReportDataSize]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("snp evidence: %w", err)
	}
	// go-configfs-tsm formats client errors with %v; recording them keeps
	// their type so a missing interface reads differently from a busy one.
	rec := &recordingClient{Client: p.client}
	resp, err := report.Get(rec, &report.Request{
		InBlob:     bytes.Clone(reportData[:]),
		Privilege:  &report.Privilege{Level: snpPrivLevel},
		GetAuxBlob: true,
	})
	if err != nil {
		return nil, explainTSMError(err, rec.failure())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("snp evidence: %w", err)
	}
	if provider := strings.TrimSpace(resp.Provider); provider != providerSEV {
		return nil, fmt.Errorf("%w: snp evidence: configfs-tsm provider is %q, not %q: this is not an SEV-SNP guest (for tdx_guest use the tdx backend)", ErrBadResponse, oneLine(provider), providerSEV)
	}
	if len(resp.OutBlob) != abi.ReportSize {
		return nil, fmt.Errorf("%w: snp evidence: report is %d bytes, want %d", ErrBadResponse, len(resp.OutBlob), abi.ReportSize)
	}
	if got := resp.OutBlob[snpReportDataOffset : snpReportDataOffset+ReportDataSize]; !bytes.Equal(got, reportData[:]) {
		return nil, fmt.Errorf("%w: snp evidence: the report carries other report data than requested: another process may share the entry; retry", ErrBadResponse)
	}
	table, err := ParseCertTable(resp.AuxBlob)
	if err != nil {
		return nil, fmt.Errorf("%w: snp evidence: auxblob: %w", ErrBadResponse, err)
	}
	return &Evidence{
		Format:     FormatSNP,
		ReportData: reportData,
		Report:     bytes.Clone(resp.OutBlob),
		CertTable:  table,
	}, nil
}

// snpReportDataOffset is where REPORT_DATA sits in an ATTESTATION_REPORT.
const snpReportDataOffset = 0x50

// SealingKey implements Platform. SEV-SNP derives sealing keys in firmware
// (MSG_KEY_REQ, bound to the launch measurement and TCB), but configfs-tsm
// offers no key requests; that needs the /dev/sev-guest ioctl, which this
// backend does not use yet.
func (*SNPPlatform) SealingKey(ctx context.Context, purpose string) ([]byte, error) {
	return nil, fmt.Errorf("%w: snp: the firmware-derived sealing key is not available through configfs-tsm; it needs /dev/sev-guest (MSG_KEY_REQ), which donjon does not use yet", ErrNoSealingKey)
}

// recordingClient passes calls to Client and remembers the first error,
// with the operation and path that produced it.
type recordingClient struct {
	configfsi.Client
	mu    sync.Mutex
	first *fs.PathError
}

func (c *recordingClient) record(op, name string, err error) error {
	if err != nil {
		c.mu.Lock()
		if c.first == nil {
			c.first = &fs.PathError{Op: op, Path: name, Err: err}
		}
		c.mu.Unlock()
	}
	return err
}

func (c *recordingClient) failure() *fs.PathError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *recordingClient) MkdirTemp(dir, pattern string) (string, error) {
	name, err := c.Client.MkdirTemp(dir, pattern)
	return name, c.record("create entry in", dir, err)
}

func (c *recordingClient) ReadFile(name string) ([]byte, error) {
	b, err := c.Client.ReadFile(name)
	return b, c.record("read", name, err)
}

func (c *recordingClient) WriteFile(name string, contents []byte) error {
	return c.record("write", name, c.Client.WriteFile(name, contents))
}

func (c *recordingClient) RemoveAll(name string) error {
	return c.record("remove", name, c.Client.RemoveAll(name))
}

// explainTSMError turns a go-configfs-tsm failure into one line that says
// what went wrong and what to do. cause is the first client error, if any.
func explainTSMError(err error, cause *fs.PathError) error {
	if gen := report.GetGenerationErr(err); gen != nil {
		return fmt.Errorf("%w: snp evidence: the configfs-tsm report entry changed while it was read (generation %d, expected %d): another process wrote to it; retry", ErrInterference, gen.Got, gen.Want)
	}
	if cause == nil {
		return fmt.Errorf("snp evidence: configfs-tsm: %s", oneLine(err.Error()))
	}
	where := cause.Op + " " + cause.Path
	inner := oneLine(bare(cause).Error())
	switch {
	case errors.Is(cause.Err, fs.ErrNotExist):
		return fmt.Errorf("%w: snp evidence: configfs-tsm: %s: not found: %s", ErrUnavailable, where, snpTSMHint)
	case errors.Is(cause.Err, syscall.EBUSY), errors.Is(cause.Err, syscall.EAGAIN):
		return fmt.Errorf("%w: snp evidence: configfs-tsm: %s: %s: another report request is in progress; retry", ErrBusy, where, inner)
	case errors.Is(cause.Err, fs.ErrPermission):
		return fmt.Errorf("%w: snp evidence: configfs-tsm: %s: permission denied: run donjon as root or give it write access to %s", ErrUnavailable, where, pathTSMReport)
	case errors.Is(cause.Err, syscall.EIO):
		return fmt.Errorf("snp evidence: configfs-tsm: %s: the SEV firmware refused the request (I/O error): check the kernel log (dmesg) for sev-guest messages", where)
	case errors.Is(cause.Err, syscall.EINVAL) && strings.HasSuffix(cause.Path, "/privlevel"):
		return fmt.Errorf("%w: snp evidence: configfs-tsm: %s: privilege level %d refused: this guest runs above VMPL0 (e.g. under an SVSM), which donjon does not support yet", ErrUnavailable, where, snpPrivLevel)
	default:
		return fmt.Errorf("snp evidence: configfs-tsm: %s: %s", where, inner)
	}
}
