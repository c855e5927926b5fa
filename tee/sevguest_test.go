package tee

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
	labi "github.com/google/go-sev-guest/client/linuxabi"
	"github.com/google/go-sev-guest/kds"
	sevtest "github.com/google/go-sev-guest/testing"

	attestsnp "donjon.dev/attest/snp"
	"donjon.dev/tee/teetest"
)

var testMeasurement = [48]byte{0: 0x6d, 1: 0x65, 47: 0x01}

const testTCB = 0xdb18_0000_0000_0004 // microcode 0xdb, SNP 0x18, bootloader 4

func newFakeSEVGuest(t *testing.T, opts teetest.SNPOptions) *teetest.FakeSEVGuest {
	t.Helper()
	if opts.Created.IsZero() {
		opts.Created = fakeChainCreated
	}
	fake, err := teetest.NewFakeSEVGuest(opts)
	if err != nil {
		t.Fatalf("NewFakeSEVGuest: %v", err)
	}
	return fake
}

func TestSNPDeviceEvidenceVerifies(t *testing.T) {
	fake := newFakeSEVGuest(t, teetest.SNPOptions{Measurement: testMeasurement, TCB: testTCB})
	p := NewSNPDevice(fake.Device)
	if p.Name() != SNP || p.Interface() != InterfaceSEVGuest {
		t.Fatalf("Name, Interface = %q, %q; want snp over %s", p.Name(), p.Interface(), InterfaceSEVGuest)
	}
	want := testReportData(0x33)
	ev, err := p.Evidence(context.Background(), want)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if ev.Format != FormatSNP || ev.ReportData != want || len(ev.Report) != abi.ReportSize {
		t.Fatalf("evidence format %q, %d-byte report, report data %x", ev.Format, len(ev.Report), ev.ReportData)
	}
	if ev.CertTable.VCEK() == nil || ev.CertTable.Get(GUIDASK) == nil || ev.CertTable.Get(GUIDARK) == nil {
		t.Fatalf("certificate table from the extended report lacks VCEK, ASK or ARK: %d entries", len(ev.CertTable))
	}
	opts := attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.Root}}
	claims, err := attestsnp.Verify(ev.Report, ev.CertTable.VCEK(), opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.ReportData != want || claims.Measurement != testMeasurement || claims.CommittedTCB.Raw != testTCB {
		t.Fatalf("verified report data %x, measurement %x, committed TCB %#x", claims.ReportData, claims.Measurement, claims.CommittedTCB.Raw)
	}
	if _, err := attestsnp.Verify(ev.Report, ev.CertTable.VCEK(), attestsnp.Options{Now: fakeVerifyAt}); !errors.Is(err, attestsnp.ErrUntrustedChain) {
		t.Fatalf("Verify with AMD's roots: %v, want ErrUntrustedChain", err)
	}
}

// sevDevice wraps a client.Device to change its answers.
type sevDevice struct {
	client.Device
	// before runs before the request reaches Device; a non-nil error (with
	// the result and FwErr it set) is the answer.
	before func(command uintptr, req *labi.SnpUserGuestRequest) (uintptr, error)
	// after may change a successful answer.
	after func(command uintptr, req *labi.SnpUserGuestRequest)
	calls []uintptr
}

func (d *sevDevice) Ioctl(command uintptr, req any) (uintptr, error) {
	d.calls = append(d.calls, command)
	guest := req.(*labi.SnpUserGuestRequest)
	if d.before != nil {
		if result, err := d.before(command, guest); err != nil || result != 0 {
			return result, err
		}
	}
	result, err := d.Device.Ioctl(command, req)
	if err == nil && d.after != nil {
		d.after(command, guest)
	}
	return result, err
}

// firmwareError answers like the kernel when the firmware refuses.
func firmwareError(req *labi.SnpUserGuestRequest, status abi.SevFirmwareStatus) (uintptr, error) {
	req.FwErr = uint64(status)
	return 0, syscall.EIO
}

func TestSNPDeviceEvidenceFallsBackToPlainReport(t *testing.T) {
	fake := newFakeSEVGuest(t, teetest.SNPOptions{})
	dev := &sevDevice{Device: fake.Device, before: func(command uintptr, _ *labi.SnpUserGuestRequest) (uintptr, error) {
		if command == labi.IocSnpGetExtendedReport {
			return uintptr(labi.EsUnsupported), nil // a hypervisor without extended requests
		}
		return 0, nil
	}}
	want := testReportData(4)
	ev, err := NewSNPDevice(dev).Evidence(context.Background(), want)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if len(ev.CertTable) != 0 {
		t.Fatalf("plain report came with %d certificate table entries", len(ev.CertTable))
	}
	if len(dev.calls) != 2 || dev.calls[0] != labi.IocSnpGetExtendedReport || dev.calls[1] != labi.IocSnpGetReport {
		t.Fatalf("ioctls %x, want an extended then a plain report request", dev.calls)
	}
	// The VCEK comes from elsewhere (cache, KDS); the report verifies with it.
	withTable, err := NewSNPDevice(fake.Device).Evidence(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := attestsnp.Verify(ev.Report, withTable.CertTable.VCEK(), attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.Root}})
	if err != nil || claims.ReportData != want {
		t.Fatalf("Verify of the plain report: %v", err)
	}
}

func TestSNPDeviceEvidenceGrowsCertificateBuffer(t *testing.T) {
	fake := newFakeSEVGuest(t, teetest.SNPOptions{})
	const need = sevCertBufferSize + 5000
	var offered []uint32
	dev := &sevDevice{Device: fake.Device, before: func(command uintptr, req *labi.SnpUserGuestRequest) (uintptr, error) {
		if ext, ok := req.ReqData.(*labi.SnpExtendedReportReq); ok {
			offered = append(offered, ext.CertsLength)
			if ext.CertsLength < need {
				ext.CertsLength = need
				return firmwareError(req, abi.GuestRequestInvalidLength)
			}
		}
		return 0, nil
	}}
	ev, err := NewSNPDevice(dev).Evidence(context.Background(), testReportData(5))
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if ev.CertTable.VCEK() == nil {
		t.Fatal("no VCEK in the certificate table after the retry")
	}
	// The retry offers the size asked for, rounded up to whole pages.
	if len(offered) != 2 || offered[0] != sevCertBufferSize || offered[1] != 6*sevPageSize {
		t.Fatalf("certificate buffers offered: %d, want %d then %d", offered, sevCertBufferSize, 6*sevPageSize)
	}
}

func TestSNPDeviceEvidenceErrors(t *testing.T) {
	tests := []struct {
		name    string
		dev     func(base client.Device) client.Device
		wantErr error  // nil: only the message is checked
		wantMsg string // must appear in the message
	}{
		{"busy", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(uintptr, *labi.SnpUserGuestRequest) (uintptr, error) { return 0, syscall.EBUSY }}
		}, ErrBusy, "another guest request is in progress; retry"},
		{"firmware refuses", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(_ uintptr, req *labi.SnpUserGuestRequest) (uintptr, error) {
				return firmwareError(req, abi.ResourceLimit)
			}}
		}, nil, "/dev/sev-guest report request: the SEV firmware refused it"},
		{"hypervisor fails", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(uintptr, *labi.SnpUserGuestRequest) (uintptr, error) {
				return uintptr(labi.EsVmmError), nil
			}}
		}, nil, "the hypervisor failed the guest request"},
		{"old driver", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(uintptr, *labi.SnpUserGuestRequest) (uintptr, error) { return 0, syscall.ENOTTY }}
		}, ErrUnavailable, "the sev-guest driver does not know this request: update the guest kernel"},
		{"huge certificate table", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(_ uintptr, req *labi.SnpUserGuestRequest) (uintptr, error) {
				if ext, ok := req.ReqData.(*labi.SnpExtendedReportReq); ok {
					ext.CertsLength = 1 << 31
					return firmwareError(req, abi.GuestRequestInvalidLength)
				}
				return 0, nil
			}}
		}, ErrBadResponse, "the host asks for a 2147483648-byte certificate buffer"},
		{"host keeps asking for more", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(_ uintptr, req *labi.SnpUserGuestRequest) (uintptr, error) {
				if ext, ok := req.ReqData.(*labi.SnpExtendedReportReq); ok {
					ext.CertsLength += sevPageSize
					return firmwareError(req, abi.GuestRequestInvalidLength)
				}
				return 0, nil
			}}
		}, ErrBadResponse, "certificate buffer after 20480 bytes were offered"},
		{"firmware status", func(base client.Device) client.Device {
			return &sevDevice{Device: base, after: func(_ uintptr, req *labi.SnpUserGuestRequest) {
				req.RespData.(*labi.SnpReportRespABI).Status = 0x16
			}}
		}, nil, "the firmware answered status 0x16"},
		{"other report data", func(base client.Device) client.Device {
			return &sevDevice{Device: base, after: func(_ uintptr, req *labi.SnpUserGuestRequest) {
				req.RespData.(*labi.SnpReportRespABI).Data[snpReportDataOffset] ^= 1
			}}
		}, ErrBadResponse, "other report data than requested"},
		{"malformed certificate table", func(base client.Device) client.Device {
			return &sevDevice{Device: base, after: func(_ uintptr, req *labi.SnpUserGuestRequest) {
				if ext, ok := req.ReqData.(*labi.SnpExtendedReportReq); ok {
					clear(ext.Certs)
					copy(ext.Certs, bytes.Repeat([]byte{0xff}, 24)) // an entry pointing far away, no terminator
				}
			}}
		}, ErrCertTable, "malformed SEV-SNP certificate table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSEVGuest(t, teetest.SNPOptions{})
			ev, err := NewSNPDevice(tt.dev(fake.Device)).Evidence(context.Background(), testReportData(6))
			if err == nil {
				t.Fatalf("Evidence succeeded (%d-byte report), want an error", len(ev.Report))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || !strings.Contains(msg, "snp evidence") || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is not one snp evidence line saying %q", msg, tt.wantMsg)
			}
		})
	}
}

// TestSNPSealingKeyRequest uses go-sev-guest's fake device programmed with
// exactly one report and one key: any other request (root key, guest
// fields, VMPL, TCB) finds no answer and fails.
func TestSNPSealingKeyRequest(t *testing.T) {
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(abi.DefaultSevProduct()), fakeChainCreated)
	if err != nil {
		t.Fatal(err)
	}
	report := sevtest.CreateRawReport(&sevtest.TestReportOptions{ReportData: sealingProbeReportData[:], Version: abi.ReportVersion3})
	copy(report[snpReportCommittedTCBOffset:], []byte{4, 0, 0, 0, 0, 0, 0x18, 0xdb}) // testTCB, little-endian
	firmwareKey := bytes.Repeat([]byte{0xa5}, 32)
	wantRequest := &labi.SnpDerivedKeyReqABI{
		RootKeySelect:    0,    // VCEK
		GuestFieldSelect: 0x29, // TCB version, measurement, guest policy
		Vmpl:             0,
		TCBVersion:       testTCB,
	}
	dev := &sevtest.Device{
		ReportDataRsp: map[string]any{
			hex.EncodeToString(sealingProbeReportData[:]): &sevtest.GetReportResponse{Resp: labi.SnpReportRespABI{Data: report}},
		},
		Keys:   map[string][]byte{sevtest.DerivedKeyRequestToString(wantRequest): firmwareKey},
		Signer: signer,
	}
	p := NewSNPDevice(dev)
	key, err := p.SealingKey(context.Background(), "files")
	if err != nil {
		t.Fatalf("SealingKey: %v", err)
	}
	want, err := hkdf.Key(sha256.New, firmwareKey, nil, "donjon snp sealing key v1\x00files", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, want) {
		t.Fatalf("key %x, want HKDF-SHA256 of the firmware key over the purpose, %x", key, want)
	}
	if tcb, err := p.CommittedTCB(context.Background()); err != nil || tcb != testTCB {
		t.Fatalf("CommittedTCB = %#x, %v; want %#x", tcb, err, uint64(testTCB))
	}
	// A TCB the fake was not programmed for is another request.
	if _, err := p.SealingKeyForTCB(context.Background(), "files", testTCB-1); err == nil {
		t.Fatal("SealingKeyForTCB with another TCB got the key programmed for the committed TCB")
	}
}

func TestSNPSealingKeyBinding(t *testing.T) {
	ctx := context.Background()
	base := teetest.SNPOptions{Measurement: testMeasurement, TCB: testTCB}
	sealingKey := func(opts teetest.SNPOptions, purpose string) []byte {
		t.Helper()
		key, err := NewSNPDevice(newFakeSEVGuest(t, opts).Device).SealingKey(ctx, purpose)
		if err != nil {
			t.Fatalf("SealingKey(%q): %v", purpose, err)
		}
		if len(key) != SealingKeySize {
			t.Fatalf("key is %d bytes, want %d", len(key), SealingKeySize)
		}
		return key
	}

	p := NewSNPDevice(newFakeSEVGuest(t, base).Device)
	files, err := p.SealingKey(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.SealingKey(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files, again) {
		t.Fatal("the same purpose gave two keys")
	}
	// Another fake with the same options is the same guest on the same
	// machine after a restart.
	if !bytes.Equal(files, sealingKey(base, "files")) {
		t.Fatal("the same guest got another key after a restart")
	}

	otherMeasurement := base
	otherMeasurement.Measurement[0] ^= 1
	debug := base
	debug.Debug = true
	newerTCB := base
	newerTCB.TCB++
	others := map[string][]byte{
		"other purpose":     sealingKey(base, "secrets"),
		"purpose prefix":    sealingKey(base, "file"),
		"empty purpose":     sealingKey(base, ""),
		"other measurement": sealingKey(otherMeasurement, "files"),
		"other policy":      sealingKey(debug, "files"),
		"newer firmware":    sealingKey(newerTCB, "files"),
	}
	seen := map[string]string{hex.EncodeToString(files): "base"}
	for name, key := range others {
		if prev, dup := seen[hex.EncodeToString(key)]; dup {
			t.Errorf("%s gave the same key as %s", name, prev)
		}
		seen[hex.EncodeToString(key)] = name
	}

	// After a firmware update, the key sealed under the old TCB comes back
	// with SealingKeyForTCB; a TCB above the committed one is refused.
	updated := NewSNPDevice(newFakeSEVGuest(t, newerTCB).Device)
	old, err := updated.SealingKeyForTCB(ctx, "files", testTCB)
	if err != nil || !bytes.Equal(old, files) {
		t.Fatalf("SealingKeyForTCB(old TCB) after an update: %x, %v; want the key sealed before it", old, err)
	}
	_, err = updated.SealingKeyForTCB(ctx, "files", testTCB+2)
	if !errors.Is(err, ErrNoSealingKey) || !strings.Contains(err.Error(), "above the committed one") {
		t.Fatalf("SealingKeyForTCB(future TCB): %v, want ErrNoSealingKey naming the committed TCB", err)
	}
}

func TestSNPSealingKeyErrors(t *testing.T) {
	tests := []struct {
		name     string
		dev      func(base client.Device) client.Device
		wantErrs []error
		noSeal   bool   // the error must not claim there is no sealing key
		wantMsg  string // must appear in the message
	}{
		{"busy", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(uintptr, *labi.SnpUserGuestRequest) (uintptr, error) { return 0, syscall.EAGAIN }}
		}, []error{ErrBusy}, true, "another guest request is in progress; retry"},
		{"old driver", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(command uintptr, _ *labi.SnpUserGuestRequest) (uintptr, error) {
				if command == labi.IocSnpGetDerivedKey {
					return 0, syscall.ENOTTY
				}
				return 0, nil
			}}
		}, []error{ErrNoSealingKey, ErrUnavailable}, false, "key request: the sev-guest driver does not know this request"},
		{"policy forbids", func(base client.Device) client.Device {
			return &sevDevice{Device: base, before: func(command uintptr, req *labi.SnpUserGuestRequest) (uintptr, error) {
				if command == labi.IocSnpGetDerivedKey {
					return firmwareError(req, abi.InvalidParam)
				}
				return 0, nil
			}}
		}, []error{ErrNoSealingKey}, false, "refused to derive a key for TCB"},
		{"zero key", func(base client.Device) client.Device {
			return &sevDevice{Device: base, after: func(command uintptr, req *labi.SnpUserGuestRequest) {
				if command == labi.IocSnpGetDerivedKey {
					clear(req.RespData.(*labi.SnpDerivedKeyRespABI).Data[:])
				}
			}}
		}, []error{ErrNoSealingKey, ErrBadResponse}, false, "all-zero key"},
		{"key status", func(base client.Device) client.Device {
			return &sevDevice{Device: base, after: func(command uintptr, req *labi.SnpUserGuestRequest) {
				if command == labi.IocSnpGetDerivedKey {
					req.RespData.(*labi.SnpDerivedKeyRespABI).Status = 0x16
				}
			}}
		}, []error{ErrNoSealingKey}, false, "the firmware answered status 0x16"},
		{"version 1 report", func(base client.Device) client.Device {
			return &sevDevice{Device: base, after: func(command uintptr, req *labi.SnpUserGuestRequest) {
				if command == labi.IocSnpGetReport {
					req.RespData.(*labi.SnpReportRespABI).Data[0] = 1
				}
			}}
		}, []error{ErrNoSealingKey}, false, "report version 1 has no COMMITTED_TCB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSEVGuest(t, teetest.SNPOptions{TCB: testTCB})
			key, err := NewSNPDevice(tt.dev(fake.Device)).SealingKey(context.Background(), "files")
			if err == nil {
				t.Fatalf("SealingKey succeeded (%x), want an error", key)
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("error %q does not wrap %v", err, want)
				}
			}
			if tt.noSeal && errors.Is(err, ErrNoSealingKey) {
				t.Errorf("passing error %q claims there is no sealing key", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is not one line saying %q", msg, tt.wantMsg)
			}
		})
	}
}

// With configfs-tsm for reports and the device for keys, each request goes
// to its interface.
func TestSNPWithKeys(t *testing.T) {
	tsm := newFakeSNP(t)
	dev := &sevDevice{Device: newFakeSEVGuest(t, teetest.SNPOptions{TCB: testTCB}).Device}
	p := NewSNPWithKeys(tsm.client, dev)
	if p.Interface() != InterfaceConfigfsTSM {
		t.Fatalf("Interface() = %q, want %q", p.Interface(), InterfaceConfigfsTSM)
	}
	if _, err := p.Evidence(context.Background(), testReportData(8)); err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if len(dev.calls) != 0 || len(tsm.writes) == 0 {
		t.Fatalf("evidence went to the device (%d ioctls) or not to configfs-tsm (%d writes)", len(dev.calls), len(tsm.writes))
	}
	if key, err := p.SealingKey(context.Background(), "files"); err != nil || len(key) != SealingKeySize {
		t.Fatalf("SealingKey: %x, %v", key, err)
	}
	if len(dev.calls) != 2 || dev.calls[1] != labi.IocSnpGetDerivedKey {
		t.Fatalf("sealing key ioctls %x, want a report then a key request", dev.calls)
	}
}

func TestSNPDeviceConcurrent(t *testing.T) {
	fake := newFakeSEVGuest(t, teetest.SNPOptions{TCB: testTCB})
	p := NewSNPDevice(fake.Device)
	want, err := p.SealingKey(context.Background(), "files")
	if err != nil {
		t.Fatal(err)
	}
	opts := attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.Root}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			rd := testReportData(byte(100 + i))
			ev, err := p.Evidence(context.Background(), rd)
			if err != nil {
				errs <- err
				return
			}
			if claims, err := attestsnp.Verify(ev.Report, ev.CertTable.VCEK(), opts); err != nil || claims.ReportData != rd {
				errs <- errors.New("a report does not verify or carries another request's report data")
			}
		})
		wg.Go(func() {
			key, err := p.SealingKey(context.Background(), "files")
			if err != nil {
				errs <- err
			} else if !bytes.Equal(key, want) {
				errs <- errors.New("concurrent SealingKey calls disagree")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSNPSealingKeyCanceled(t *testing.T) {
	dev := &sevDevice{Device: newFakeSEVGuest(t, teetest.SNPOptions{}).Device}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewSNPDevice(dev).SealingKey(ctx, "files"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoSealingKey) {
		t.Fatalf("SealingKey with a canceled context: %v, want only context.Canceled", err)
	}
	if _, err := NewSNPDevice(dev).Evidence(ctx, testReportData(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Evidence with a canceled context: %v, want context.Canceled", err)
	}
	if len(dev.calls) != 0 {
		t.Fatalf("canceled requests still sent %d ioctls", len(dev.calls))
	}
}

// The real LinuxDevice path, on a file that is not a sev-guest device:
// the ioctls fail as on a kernel whose driver lacks them.
func TestSNPDevicePathNotADevice(t *testing.T) {
	name := filepath.Join(t.TempDir(), "sev-guest")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &SNPPlatform{dev: &sevGuest{path: name}}
	_, err := p.SealingKey(context.Background(), "files")
	if !errors.Is(err, ErrNoSealingKey) || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not know this request") {
		t.Fatalf("SealingKey over a plain file: %v, want ErrNoSealingKey and ErrUnavailable", err)
	}

	missing := &sevGuest{path: filepath.Join(t.TempDir(), "absent")}
	if err := missing.probe(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "modprobe sev-guest") {
		t.Fatalf("probe of a missing device: %v, want ErrUnavailable with the fix", err)
	}
}

// On a kernel with configfs-tsm but no /dev/sev-guest, the platform still
// gives evidence, and SealingKey says why it has no key.
func TestSNPSealingKeyWithoutDevice(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "sev-guest")
	dev, why := keyDevice(absent)
	if dev != nil {
		t.Fatalf("keyDevice(%s) found a device", absent)
	}
	p := &SNPPlatform{tsm: newFakeSNP(t).client, noDevice: why}
	if _, err := p.Evidence(context.Background(), testReportData(1)); err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	_, err := p.SealingKey(context.Background(), "files")
	if !errors.Is(err, ErrNoSealingKey) || !strings.Contains(err.Error(), absent+" does not exist: load the sev-guest driver") {
		t.Fatalf("SealingKey: %v, want ErrNoSealingKey saying the device is missing", err)
	}
	if _, err := p.CommittedTCB(context.Background()); !errors.Is(err, ErrNoSealingKey) {
		t.Fatalf("CommittedTCB: %v, want ErrNoSealingKey", err)
	}

	present := filepath.Join(t.TempDir(), "sev-guest")
	if err := os.WriteFile(present, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if dev, why := keyDevice(present); dev == nil || dev.path != present || why != "" {
		t.Fatalf("keyDevice(existing file) = %v, %q; want the device", dev, why)
	}
}

func TestExplainDeviceOpen(t *testing.T) {
	tests := []struct {
		errno   syscall.Errno
		wantErr error
		wantMsg string
	}{
		{syscall.ENOENT, ErrUnavailable, "not found: run donjon in an SEV-SNP guest with the sev-guest driver loaded"},
		{syscall.EACCES, ErrUnavailable, "permission denied: run donjon as root"},
		{syscall.ENXIO, ErrUnavailable, "no SEV-SNP firmware behind the device"},
		{syscall.EBUSY, ErrBusy, "retry"},
	}
	for _, tt := range tests {
		err := explainDeviceOpen(pathSEVGuest, &fs.PathError{Op: "open", Path: pathSEVGuest, Err: tt.errno})
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%v: %v, want %v saying %q", tt.errno, err, tt.wantErr, tt.wantMsg)
		}
	}
}

// TestOpenSNPDeviceOnThisMachine: without /dev/sev-guest OpenSNPDevice
// fails with one clear line.
func TestOpenSNPDeviceOnThisMachine(t *testing.T) {
	if _, err := os.Stat(pathSEVGuest); err == nil {
		if _, err := OpenSNPDevice(); err != nil {
			t.Fatalf("OpenSNPDevice with %s present: %v", pathSEVGuest, err)
		}
		return
	}
	_, err := OpenSNPDevice()
	if !errors.Is(err, ErrUnavailable) || strings.ContainsAny(err.Error(), "\n\r") || !strings.Contains(err.Error(), pathSEVGuest) {
		t.Fatalf("OpenSNPDevice without %s: %v, want one ErrUnavailable line naming it", pathSEVGuest, err)
	}
}

// fuzzDevice answers every report request with the fuzzer's bytes.
type fuzzDevice struct {
	client.Device
	report   []byte
	certs    []byte
	certsLen uint32
}

func (d *fuzzDevice) Ioctl(command uintptr, req any) (uintptr, error) {
	guest := req.(*labi.SnpUserGuestRequest)
	resp, ok := guest.RespData.(*labi.SnpReportRespABI)
	if !ok {
		return 0, syscall.ENOTTY
	}
	copy(resp.Data[:], d.report)
	if ext, ok := guest.ReqData.(*labi.SnpExtendedReportReq); ok {
		if d.certsLen > ext.CertsLength {
			ext.CertsLength = d.certsLen
			return firmwareError(guest, abi.GuestRequestInvalidLength)
		}
		copy(ext.Certs, d.certs)
	}
	return 0, nil
}

// FuzzSNPDeviceEvidence feeds hostile answers from /dev/sev-guest to the
// evidence path: it must never panic, and what it accepts must answer the
// request.
func FuzzSNPDeviceEvidence(f *testing.F) {
	rd := testReportData(7)
	report := sevtest.CreateRawReport(&sevtest.TestReportOptions{ReportData: rd[:], Version: abi.ReportVersion3})
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(abi.DefaultSevProduct()), fakeChainCreated)
	if err != nil {
		f.Fatal(err)
	}
	table, err := signer.CertTableBytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(report[:abi.ReportSize], table, uint32(0))
	f.Add(report[:abi.ReportSize], []byte{}, uint32(sevCertBufferSize+1))
	f.Add(report[:abi.ReportSize], table[:40], uint32(0))
	f.Add([]byte{1, 2, 3}, []byte{}, uint32(1<<31))
	f.Fuzz(func(t *testing.T, report, certs []byte, certsLen uint32) {
		p := NewSNPDevice(&fuzzDevice{report: report, certs: certs, certsLen: certsLen})
		ev, err := p.Evidence(context.Background(), rd)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if len(ev.Report) != abi.ReportSize || !bytes.Equal(ev.Report[snpReportDataOffset:snpReportDataOffset+ReportDataSize], rd[:]) {
			t.Fatal("accepted a report that does not answer the request")
		}
	})
}
