package tee

// The /dev/sev-guest ioctl interface, for kernels without configfs-tsm and
// for the firmware-derived sealing key, which configfs-tsm does not offer.
// Requests go through go-sev-guest's client.Device so that tests can use
// its fake device; the request structures are built here rather than with
// go-sev-guest's helpers, which size the certificate buffer from whatever
// the host asks for and format errors with %v.

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
	labi "github.com/google/go-sev-guest/client/linuxabi"
)

const (
	// sevCertBufferSize is the certificate buffer offered with an extended
	// report: 4 pages, the most Linux's sev-guest driver accepts. Real
	// tables (VCEK, ASK, ARK) take 3 to 5 KB.
	sevCertBufferSize = 16 << 10
	sevPageSize       = 4096

	// snpSealingLabel separates donjon's sealing keys from any other use of
	// the firmware-derived secret.
	snpSealingLabel = "donjon snp sealing key v1\x00"

	// Offsets in an ATTESTATION_REPORT.
	snpReportVersionOffset      = 0x00
	snpReportCommittedTCBOffset = 0x1E0
	// snpMinTCBReportVersion is the first report version with COMMITTED_TCB.
	snpMinTCBReportVersion = 2
)

// snpSealingFields are the guest fields the firmware mixes into the
// sealing key: who launched (measurement), under which rules (policy), on
// which firmware (TCB). Family and image IDs are left out: they are only
// set with an ID block, which donjon does not use.
var snpSealingFields = client.GuestFieldSelect{Measurement: true, GuestPolicy: true, TCBVersion: true}

// sealingProbeReportData is the report data of the report read for its
// COMMITTED_TCB; any value works, a fixed one keeps requests reproducible.
var sealingProbeReportData = sha512.Sum512([]byte("donjon snp committed TCB probe v1"))

// sevGuest serializes requests to one sev-guest device. The kernel
// serializes guest requests anyway; the lock also covers devices that are
// not safe for concurrent use, such as go-sev-guest's fake.
type sevGuest struct {
	mu sync.Mutex
	// dev is a caller-owned, open device, used as is.
	dev client.Device
	// path, when dev is nil, is opened for each request and closed after.
	path string
}

// do runs fn with the device.
func (g *sevGuest) do(fn func(client.Device) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dev != nil {
		return fn(g.dev)
	}
	dev, err := g.open()
	if err != nil {
		return err
	}
	defer dev.Close()
	return fn(dev)
}

// probe checks that the device opens, so that opening a platform fails
// early with the reason rather than at its first request.
func (g *sevGuest) probe() error {
	return g.do(func(client.Device) error { return nil })
}

func (g *sevGuest) open() (client.Device, error) {
	// LinuxDevice.Open formats the errno away; opening the file once first
	// keeps it, so that a missing device reads differently from a
	// forbidden one.
	f, err := os.OpenFile(g.path, os.O_RDWR, 0)
	if err != nil {
		return nil, explainDeviceOpen(g.path, err)
	}
	f.Close()
	dev := &client.LinuxDevice{}
	if err := dev.Open(g.path); err != nil {
		return nil, fmt.Errorf("%w: snp: %s", ErrUnavailable, oneLine(err.Error()))
	}
	return dev, nil
}

func explainDeviceOpen(path string, err error) error {
	inner := bare(err)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: snp: %s not found: run donjon in an SEV-SNP guest with the sev-guest driver loaded (modprobe sev-guest)", ErrUnavailable, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: snp: open %s: permission denied: run donjon as root or give it read-write access to %s", ErrUnavailable, path, path)
	case errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("%w: snp: open %s: %v: no SEV-SNP firmware behind the device: run donjon in an SEV-SNP guest", ErrUnavailable, path, inner)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w: snp: open %s: %v: retry", ErrBusy, path, inner)
	default:
		return fmt.Errorf("snp: open %s: %v", path, inner)
	}
}

// evidence asks the device for an extended report (report and certificate
// table), falling back to a plain report when the host cannot serve
// extended requests: the report proves the same, and a verifier gets the
// VCEK from a cache or AMD's KDS instead.
func (g *sevGuest) evidence(reportData [ReportDataSize]byte) (rep, certs []byte, err error) {
	err = g.do(func(dev client.Device) error {
		var extErr error
		rep, certs, extErr = extendedReport(dev, reportData)
		if extErr == nil || errors.Is(extErr, ErrBusy) || errors.Is(extErr, ErrBadResponse) {
			return extErr
		}
		var plainErr error
		rep, plainErr = plainReport(dev, "evidence", reportData)
		return plainErr
	})
	return rep, certs, err
}

// guestRequest sends one guest message and folds its three failure
// channels (errno, firmware status, hypervisor result) into one error that
// keeps their types.
func guestRequest(dev client.Device, command uintptr, req *labi.SnpUserGuestRequest) error {
	result, err := dev.Ioctl(command, req)
	if err != nil {
		if req.FwErr != 0 {
			return fmt.Errorf("%w: %w", err, &abi.SevFirmwareErr{Status: abi.SevFirmwareStatus(req.FwErr)})
		}
		return err
	}
	if result != uintptr(labi.EsOk) {
		return &labi.SevEsErr{Result: labi.EsResult(result)}
	}
	return nil
}

// explainGuestError says in one line what a failed guest request means.
func explainGuestError(what, request string, err error) error {
	where := fmt.Sprintf("snp %s: %s %s", what, pathSEVGuest, request)
	inner := oneLine(err.Error())
	var fw *abi.SevFirmwareErr
	var es *labi.SevEsErr
	switch {
	case errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.EAGAIN):
		return fmt.Errorf("%w: %s: %s: another guest request is in progress; retry", ErrBusy, where, inner)
	case errors.As(err, &fw):
		return fmt.Errorf("%s: the SEV firmware refused it: %s: check the kernel log (dmesg) for sev-guest messages", where, oneLine(fw.Error()))
	case errors.As(err, &es):
		return fmt.Errorf("%s: the hypervisor failed the guest request: %s: check the host's SEV-SNP support", where, oneLine(es.Error()))
	case errors.Is(err, syscall.ENOTTY):
		return fmt.Errorf("%w: %s: the sev-guest driver does not know this request: update the guest kernel", ErrUnavailable, where)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s: permission denied: run donjon as root or give it read-write access to %s", ErrUnavailable, where, pathSEVGuest)
	default:
		return fmt.Errorf("%s: %s", where, inner)
	}
}

// extendedReport requests a report at VMPL0 with the host's certificate
// table. The buffer starts at the driver's maximum and grows once, up to
// maxCertTable, if the host says it needs more.
func extendedReport(dev client.Device, reportData [ReportDataSize]byte) (rep, certs []byte, err error) {
	buf := make([]byte, sevCertBufferSize)
	for attempt := 0; ; attempt++ {
		var resp labi.SnpReportRespABI
		ext := &labi.SnpExtendedReportReq{
			Data:        labi.SnpReportReqABI{ReportData: reportData, Vmpl: snpPrivLevel},
			Certs:       buf,
			CertsLength: uint32(len(buf)),
		}
		err := guestRequest(dev, labi.IocSnpGetExtendedReport, &labi.SnpUserGuestRequest{ReqData: ext, RespData: &resp})
		var fw *abi.SevFirmwareErr
		if errors.As(err, &fw) && fw.Status == abi.GuestRequestInvalidLength {
			need := uint64(ext.CertsLength)
			if attempt > 0 || need <= uint64(len(buf)) || need > maxCertTable {
				return nil, nil, fmt.Errorf("%w: snp evidence: %s extended report: the host asks for a %d-byte certificate buffer after %d bytes were offered (limit %d)", ErrBadResponse, pathSEVGuest, need, len(buf), maxCertTable)
			}
			buf = make([]byte, (need+sevPageSize-1)/sevPageSize*sevPageSize)
			continue
		}
		if err != nil {
			return nil, nil, explainGuestError("evidence", "extended report request", err)
		}
		if resp.Status != 0 {
			return nil, nil, fmt.Errorf("snp evidence: %s extended report: the firmware answered status %#x: check the kernel log (dmesg) for sev-guest messages", pathSEVGuest, resp.Status)
		}
		return bytes.Clone(resp.Data[:abi.ReportSize]), buf, nil
	}
}

// plainReport requests a report at VMPL0 without certificates.
func plainReport(dev client.Device, what string, reportData [ReportDataSize]byte) ([]byte, error) {
	var resp labi.SnpReportRespABI
	req := &labi.SnpReportReqABI{ReportData: reportData, Vmpl: snpPrivLevel}
	if err := guestRequest(dev, labi.IocSnpGetReport, &labi.SnpUserGuestRequest{ReqData: req, RespData: &resp}); err != nil {
		return nil, explainGuestError(what, "report request", err)
	}
	if resp.Status != 0 {
		return nil, fmt.Errorf("snp %s: %s report: the firmware answered status %#x: check the kernel log (dmesg) for sev-guest messages", what, pathSEVGuest, resp.Status)
	}
	return bytes.Clone(resp.Data[:abi.ReportSize]), nil
}

// committedTCB reads COMMITTED_TCB from a fresh report. The report comes
// from the firmware over the guest's encrypted channel, so unlike
// evidence sent elsewhere it needs no signature check to be believed here.
func committedTCB(dev client.Device) (uint64, error) {
	rep, err := plainReport(dev, "sealing key", sealingProbeReportData)
	if err != nil {
		return 0, err
	}
	if got := rep[snpReportDataOffset : snpReportDataOffset+ReportDataSize]; !bytes.Equal(got, sealingProbeReportData[:]) {
		return 0, fmt.Errorf("%w: %w: snp sealing key: the TCB report carries other report data than requested", ErrNoSealingKey, ErrBadResponse)
	}
	if v := binary.LittleEndian.Uint32(rep[snpReportVersionOffset:]); v < snpMinTCBReportVersion {
		return 0, fmt.Errorf("%w: snp: report version %d has no COMMITTED_TCB to bind the sealing key to: update the SEV firmware", ErrNoSealingKey, v)
	}
	return binary.LittleEndian.Uint64(rep[snpReportCommittedTCBOffset:]), nil
}

// deriveSealingKey asks the firmware for a key rooted in the VCEK secret
// and bound to snpSealingFields at tcb, then derives the key for purpose.
func deriveSealingKey(dev client.Device, tcb uint64, purpose string) ([]byte, error) {
	req := &labi.SnpDerivedKeyReqABI{
		// VCEK, not the VM root key: a migration agent could share the
		// VMRK, while the VCEK secret never leaves this chip's firmware.
		RootKeySelect:    0,
		GuestFieldSelect: snpSealingFields.ABI(),
		Vmpl:             snpPrivLevel,
		TCBVersion:       tcb,
	}
	var resp labi.SnpDerivedKeyRespABI
	defer clear(resp.Data[:])
	err := guestRequest(dev, labi.IocSnpGetDerivedKey, &labi.SnpUserGuestRequest{ReqData: req, RespData: &resp})
	var fw *abi.SevFirmwareErr
	if errors.As(err, &fw) && fw.Status == abi.InvalidParam {
		return nil, fmt.Errorf("%w: snp: the SEV firmware refused to derive a key for TCB %#016x: a TCB above the committed one, or a policy that forbids key derivation", ErrNoSealingKey, tcb)
	}
	if err != nil {
		return nil, explainGuestError("sealing key", "key request", err)
	}
	if resp.Status != 0 {
		return nil, fmt.Errorf("%w: snp sealing key: %s key request: the firmware answered status %#x", ErrNoSealingKey, pathSEVGuest, resp.Status)
	}
	if allZero(resp.Data[:]) {
		return nil, fmt.Errorf("%w: %w: snp sealing key: %s returned an all-zero key", ErrNoSealingKey, ErrBadResponse, pathSEVGuest)
	}
	key, err := hkdf.Key(sha256.New, resp.Data[:], nil, snpSealingLabel+purpose, SealingKeySize)
	if err != nil {
		return nil, fmt.Errorf("snp sealing key: derive: %w", err)
	}
	return key, nil
}

// sealingErr marks a lasting failure to get the sealing key with
// ErrNoSealingKey. Passing ones (busy, canceled) stay as they are, so that
// a caller retries them instead of falling back to another key source.
func sealingErr(err error) error {
	if err == nil || errors.Is(err, ErrNoSealingKey) || errors.Is(err, ErrBusy) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoSealingKey, err)
}
