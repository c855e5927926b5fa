package teetest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"syscall"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
	labi "github.com/google/go-sev-guest/client/linuxabi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtest "github.com/google/go-sev-guest/testing"

	attestsnp "donjon.dev/attest/snp"
)

// FakeSEVGuest is a /dev/sev-guest device (go-sev-guest's client.Device)
// answering like an SEV-SNP guest's firmware: reports and extended reports
// for any report data, signed with go-sev-guest's test-only VCEK, and
// derived keys. It wraps go-sev-guest's fake device, which only answers
// requests programmed in advance, and programs each request as it comes.
type FakeSEVGuest struct {
	// Device is what tee.NewSNPDevice and tee.NewSNPWithKeys take.
	Device client.Device
	// Root is the test ARK/ASK pair a verifier must trust to accept the
	// fake's reports.
	Root attestsnp.Root
}

// fakeChipSecret stands for the chip's VCEK secret in derived keys. It is
// public and the same for every fake, so that two fakes launched with the
// same options are the same machine and derive the same keys, as a keep
// restarted on one machine would.
var fakeChipSecret = sha256.Sum256([]byte("teetest fake SEV-SNP chip secret (public, tests only)"))

// NewFakeSEVGuest returns a fake sev-guest device for a guest described by
// opts (Created, Debug, Measurement, TCB).
func NewFakeSEVGuest(opts SNPOptions) (*FakeSEVGuest, error) {
	product := abi.DefaultSevProduct()
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(product), opts.Created)
	if err != nil {
		return nil, fmt.Errorf("teetest: snp test chain: %w", err)
	}
	table, err := signer.CertTableBytes()
	if err != nil {
		return nil, fmt.Errorf("teetest: snp certificate table: %w", err)
	}
	dev := &fakeSEVGuestDevice{
		fake: &sevtest.Device{
			ReportDataRsp: map[string]any{},
			Keys:          map[string][]byte{},
			Certs:         table,
			Signer:        signer,
			SevProduct:    product,
		},
		opts:     opts,
		template: reportTemplate(opts),
	}
	return &FakeSEVGuest{
		Device: dev,
		Root:   attestsnp.Root{Product: attestsnp.Milan, ARK: signer.Ark, ASK: signer.Ask},
	}, nil
}

type fakeSEVGuestDevice struct {
	mu       sync.Mutex
	fake     *sevtest.Device
	opts     SNPOptions
	template func(reportData []byte) [labi.SnpReportRespReportSize]byte
}

// Open, Close and Product pass through: go-sev-guest's fake checks that
// Open and Close alternate.
func (d *fakeSEVGuestDevice) Open(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fake.Open(path)
}

func (d *fakeSEVGuestDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fake.Close()
}

func (d *fakeSEVGuestDevice) Product() *spb.SevProduct { return d.fake.Product() }

// Ioctl programs the answer to req into go-sev-guest's fake, then lets it
// answer.
func (d *fakeSEVGuestDevice) Ioctl(command uintptr, req any) (uintptr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if guest, ok := req.(*labi.SnpUserGuestRequest); ok {
		switch r := guest.ReqData.(type) {
		case *labi.SnpReportReqABI:
			d.programReport(r.ReportData)
		case *labi.SnpExtendedReportReq:
			d.programReport(r.Data.ReportData)
		case *labi.SnpDerivedKeyReqABI:
			if status := d.programKey(r); status != abi.Success {
				// How the kernel reports a firmware refusal.
				guest.FwErr = uint64(status)
				return 0, syscall.EIO
			}
		}
	}
	return d.fake.Ioctl(command, req)
}

func (d *fakeSEVGuestDevice) programReport(reportData [64]byte) {
	d.fake.ReportDataRsp[hex.EncodeToString(reportData[:])] = &sevtest.GetReportResponse{
		Resp: labi.SnpReportRespABI{Data: d.template(reportData[:])},
	}
}

// Guest field select bits (SEV-SNP ABI, MSG_KEY_REQ).
const (
	fieldGuestPolicy = 1 << 0
	// Bits 1 and 2 select the image and family IDs, which are zero: the
	// fake guest has no ID block.
	fieldMeasurement = 1 << 3
	fieldGuestSVN    = 1 << 4
	fieldTCBVersion  = 1 << 5
	fieldsKnown      = 1<<6 - 1
)

// programKey derives the key the firmware would for req, or returns the
// firmware status refusing it. The key is a hash of the chip secret, the
// request, and the guest facts the request selects, so any change to
// either gives an unrelated key.
func (d *fakeSEVGuestDevice) programKey(req *labi.SnpDerivedKeyReqABI) abi.SevFirmwareStatus {
	switch {
	case req.RootKeySelect > 1,
		req.GuestFieldSelect&^fieldsKnown != 0,
		req.GuestFieldSelect&fieldTCBVersion != 0 && req.TCBVersion > d.opts.TCB,
		// This guest was launched with guest SVN 0 and runs at VMPL0.
		req.GuestFieldSelect&fieldGuestSVN != 0 && req.GuestSVN > 0:
		return abi.InvalidParam
	}
	h := sha256.New()
	h.Write([]byte("teetest fake SEV-SNP derived key v1"))
	h.Write(fakeChipSecret[:])
	var fields [32]byte
	binary.LittleEndian.PutUint32(fields[0:], req.RootKeySelect)
	binary.LittleEndian.PutUint64(fields[4:], req.GuestFieldSelect)
	binary.LittleEndian.PutUint32(fields[12:], req.Vmpl)
	if req.GuestFieldSelect&fieldGuestSVN != 0 {
		binary.LittleEndian.PutUint32(fields[16:], req.GuestSVN)
	}
	if req.GuestFieldSelect&fieldTCBVersion != 0 {
		binary.LittleEndian.PutUint64(fields[20:], req.TCBVersion)
	}
	h.Write(fields[:])
	if req.GuestFieldSelect&fieldMeasurement != 0 {
		h.Write(d.opts.Measurement[:])
	}
	if req.GuestFieldSelect&fieldGuestPolicy != 0 {
		h.Write(binary.LittleEndian.AppendUint64(nil, abi.SnpPolicyToBytes(abi.SnpPolicy{Debug: d.opts.Debug})))
	}
	d.fake.Keys[sevtest.DerivedKeyRequestToString(req)] = h.Sum(nil)
	return abi.Success
}
