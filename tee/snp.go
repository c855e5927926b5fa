package tee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
)

// SNPPlatform is an AMD SEV-SNP guest. Reports come through the Linux
// configfs-tsm report interface (/sys/kernel/config/tsm/report, kernel
// 6.7+) or, on older kernels, through the /dev/sev-guest ioctl; the
// firmware-derived sealing key always needs /dev/sev-guest, since
// configfs-tsm has no key requests. The same code runs on hardware and in
// tests: only the configfsi.Client and client.Device differ.
type SNPPlatform struct {
	// tsm serves reports when set; otherwise the device does.
	tsm configfsi.Client
	// dev serves sealing keys (and reports when tsm is nil); nil means
	// this platform has no sealing key, for the reason in noDevice.
	dev      *sevGuest
	noDevice string
}

// NewSNP returns the SNP backend over a configfs-tsm client, without a
// sealing key. Tests pass go-configfs-tsm's fake; OpenSNP passes the real
// configfs.
func NewSNP(tsm configfsi.Client) *SNPPlatform {
	return &SNPPlatform{tsm: tsm, noDevice: "this platform was set up without /dev/sev-guest"}
}

// NewSNPWithKeys returns the SNP backend that asks configfs-tsm for
// reports and the sev-guest device dev for sealing keys. dev must be open;
// the platform never closes it.
func NewSNPWithKeys(tsm configfsi.Client, dev client.Device) *SNPPlatform {
	return &SNPPlatform{tsm: tsm, dev: &sevGuest{dev: dev}}
}

// NewSNPDevice returns the SNP backend over the sev-guest device dev alone,
// for kernels without configfs-tsm. dev must be open; the platform never
// closes it. Tests pass go-sev-guest's fake device.
func NewSNPDevice(dev client.Device) *SNPPlatform {
	return &SNPPlatform{dev: &sevGuest{dev: dev}}
}

// OpenSNP returns the SNP backend over this machine's configfs-tsm, with
// sealing keys from /dev/sev-guest when that device exists.
func OpenSNP() (*SNPPlatform, error) {
	tsm, err := linuxtsm.MakeClient()
	if err != nil {
		return nil, fmt.Errorf("%w: snp: configfs-tsm %s: %v: %s", ErrUnavailable, pathTSMReport, bare(err), snpTSMHint)
	}
	p := &SNPPlatform{tsm: tsm}
	p.dev, p.noDevice = keyDevice(pathSEVGuest)
	return p, nil
}

// keyDevice returns the sev-guest device at path for sealing keys, or why
// there is none.
func keyDevice(path string) (*sevGuest, string) {
	switch _, err := os.Stat(path); {
	case err == nil:
		return &sevGuest{path: path}, ""
	case errors.Is(err, fs.ErrNotExist):
		return nil, path + " does not exist: load the sev-guest driver (modprobe sev-guest)"
	default:
		return nil, fmt.Sprintf("cannot use %s: %v", path, bare(err))
	}
}

// OpenSNPDevice returns the SNP backend over this machine's /dev/sev-guest
// alone, for kernels without configfs-tsm. The device is opened for each
// request, so the platform holds no file open between requests.
func OpenSNPDevice() (*SNPPlatform, error) {
	g := &sevGuest{path: pathSEVGuest}
	if err := g.probe(); err != nil {
		return nil, err
	}
	return &SNPPlatform{dev: g}, nil
}

const (
	// snpPrivLevel is the VMPL the report is requested for: 0, the guest
	// kernel's own level, since donjon runs without an SVSM.
	snpPrivLevel = 0
	snpTSMHint   = "run donjon in an SEV-SNP guest whose kernel has configfs-tsm (6.7+) and the sev-guest driver, with configfs mounted at /sys/kernel/config"
)

// snpTSM describes the SNP flavour of configfs-tsm for the shared code.
var snpTSM = tsmBackend{
	name:          "snp",
	provider:      providerSEV,
	wrongProvider: "this is not an SEV-SNP guest (for tdx_guest use the tdx backend)",
	hint:          snpTSMHint,
	ioError:       "the SEV firmware refused the request (I/O error): check the kernel log (dmesg) for sev-guest messages",
}

// Name implements Platform.
func (*SNPPlatform) Name() Backend { return SNP }

// Interface is the kernel interface reports come from:
// InterfaceConfigfsTSM or InterfaceSEVGuest.
func (p *SNPPlatform) Interface() string {
	if p.tsm != nil {
		return InterfaceConfigfsTSM
	}
	return InterfaceSEVGuest
}

// Evidence implements Platform. Through configfs-tsm it writes reportData
// as the inblob of a new report entry and reads back the report (outblob)
// and the host's certificate table (auxblob); through /dev/sev-guest it
// sends an extended report request. Either way it checks that the report
// is the right size and carries exactly reportData, and parses the table.
//
// Both interfaces block in the kernel; ctx is checked before and after the
// request, which is short, and cannot interrupt it.
func (p *SNPPlatform) Evidence(ctx context.Context, reportData [ReportDataSize]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("snp evidence: %w", err)
	}
	var rep, table []byte
	if p.tsm != nil {
		resp, err := getTSMReport(ctx, p.tsm, snpTSM, &report.Request{
			InBlob:     bytes.Clone(reportData[:]),
			Privilege:  &report.Privilege{Level: snpPrivLevel},
			GetAuxBlob: true,
		})
		if err != nil {
			return nil, err
		}
		rep, table = resp.OutBlob, resp.AuxBlob
	} else {
		var err error
		rep, table, err = p.dev.evidence(reportData)
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("snp evidence: %w", err)
		}
	}
	if err := checkSNPReport(rep, reportData); err != nil {
		return nil, err
	}
	certs, err := ParseCertTable(table)
	if err != nil {
		return nil, fmt.Errorf("%w: snp evidence: auxblob: %w", ErrBadResponse, err)
	}
	return &Evidence{
		Format:     FormatSNP,
		ReportData: reportData,
		Report:     bytes.Clone(rep),
		CertTable:  certs,
	}, nil
}

// snpReportDataOffset is where REPORT_DATA sits in an ATTESTATION_REPORT.
const snpReportDataOffset = 0x50

// checkSNPReport checks what the kernel returned as a report before anyone
// relies on it: the size, and that it answers this request.
func checkSNPReport(rep []byte, reportData [ReportDataSize]byte) error {
	if len(rep) != abi.ReportSize {
		return fmt.Errorf("%w: snp evidence: report is %d bytes, want %d", ErrBadResponse, len(rep), abi.ReportSize)
	}
	if got := rep[snpReportDataOffset : snpReportDataOffset+ReportDataSize]; !bytes.Equal(got, reportData[:]) {
		return fmt.Errorf("%w: snp evidence: the report carries other report data than requested: another process may share the entry; retry", ErrBadResponse)
	}
	return nil
}

// SealingKey implements Platform with a key the AMD secure processor
// derives (MSG_KEY_REQ through /dev/sev-guest) from this chip's VCEK
// secret, the guest's launch measurement, its guest policy and the
// platform's committed TCB, then stretched with HKDF-SHA256 over purpose.
// The same workload launched the same way on the same machine at the same
// firmware gets the same key back; anything else gets an unrelated one.
//
// Binding the committed TCB means a firmware update changes the key: data
// sealed before it is reopened with SealingKeyForTCB and the old TCB.
func (p *SNPPlatform) SealingKey(ctx context.Context, purpose string) ([]byte, error) {
	if err := p.needDevice(ctx); err != nil {
		return nil, err
	}
	var key []byte
	err := p.dev.do(func(dev client.Device) error {
		tcb, err := committedTCB(dev)
		if err != nil {
			return err
		}
		key, err = deriveSealingKey(dev, tcb, purpose)
		return err
	})
	return key, sealingErr(err)
}

// SealingKeyForTCB is SealingKey bound to tcb (a raw TCB_VERSION) instead
// of the committed TCB. The firmware derives keys for any TCB up to the
// committed one, so after a firmware update this recovers keys sealed
// under the previous TCB; it refuses a TCB above the committed one.
func (p *SNPPlatform) SealingKeyForTCB(ctx context.Context, purpose string, tcb uint64) ([]byte, error) {
	if err := p.needDevice(ctx); err != nil {
		return nil, err
	}
	var key []byte
	err := p.dev.do(func(dev client.Device) error {
		var err error
		key, err = deriveSealingKey(dev, tcb, purpose)
		return err
	})
	return key, sealingErr(err)
}

// CommittedTCB returns the platform's committed TCB_VERSION, the one
// SealingKey binds, read from a fresh report through /dev/sev-guest.
func (p *SNPPlatform) CommittedTCB(ctx context.Context) (uint64, error) {
	if err := p.needDevice(ctx); err != nil {
		return 0, err
	}
	var tcb uint64
	err := p.dev.do(func(dev client.Device) error {
		var err error
		tcb, err = committedTCB(dev)
		return err
	})
	return tcb, sealingErr(err)
}

func (p *SNPPlatform) needDevice(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("snp sealing key: %w", err)
	}
	if p.dev == nil {
		return fmt.Errorf("%w: snp: the firmware-derived sealing key is not available through configfs-tsm; it needs /dev/sev-guest (MSG_KEY_REQ), and %s", ErrNoSealingKey, p.noDevice)
	}
	return nil
}
