// Package teetest provides fake TEE devices for tests in other packages:
// they answer with the real wire formats, signed by throw-away test chains
// that no verifier trusting the real vendor roots accepts. Never trust
// anything from here outside tests.
package teetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"
	"github.com/google/go-sev-guest/abi"
	labi "github.com/google/go-sev-guest/client/linuxabi"
	"github.com/google/go-sev-guest/kds"
	sevtest "github.com/google/go-sev-guest/testing"

	attestsnp "donjon.dev/attest/snp"
)

// SNPOptions shape the fake SEV-SNP guest's reports.
type SNPOptions struct {
	// Created is when the test chain's certificates start to be valid.
	Created time.Time
	// Debug sets the guest policy's DEBUG bit in every report.
	Debug bool
	// Measurement is the launch measurement every report carries, and
	// which the fake sev-guest device mixes into derived keys.
	Measurement [48]byte
	// TCB is the raw TCB_VERSION reported as current, committed and launch
	// TCB. REPORTED_TCB stays 0, the TCB the test VCEK is certified for,
	// so reports still verify. The fake sev-guest device derives keys for
	// TCBs up to TCB and refuses higher ones, as the firmware does.
	TCB uint64
}

// FakeSNP is a configfs-tsm report subsystem answering like the sev_guest
// provider: the outblob is a version 3 Milan report carrying the written
// inblob as REPORT_DATA, signed with go-sev-guest's test-only VCEK, and the
// auxblob is the test chain's certificate table.
type FakeSNP struct {
	// Client is what tee.NewSNP takes.
	Client configfsi.Client
	// Root is the test ARK/ASK pair a verifier must trust to accept the
	// fake's reports.
	Root attestsnp.Root
	// Signer is the test chain with its private keys, for tests that need
	// to sign more (a CRL, say).
	Signer *sevtest.AmdSigner
}

// NewFakeSNP returns a fake SEV-SNP guest device.
func NewFakeSNP(opts SNPOptions) (*FakeSNP, error) {
	product := abi.DefaultSevProduct()
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(product), opts.Created)
	if err != nil {
		return nil, fmt.Errorf("teetest: snp test chain: %w", err)
	}
	table, err := signer.CertTableBytes()
	if err != nil {
		return nil, fmt.Errorf("teetest: snp certificate table: %w", err)
	}
	template := reportTemplate(opts)
	tsm := faketsm.Report611(0)
	tsm.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		switch attr {
		case "provider":
			return []byte("sev_guest\n"), nil
		case "auxblob":
			return bytes.Clone(table), nil
		case "outblob":
			raw := template(e.InAttrs["inblob"].Value)
			report := raw[:abi.ReportSize]
			r, s, err := signer.Sign(abi.SignedComponent(report))
			if err != nil {
				return nil, err
			}
			if err := abi.SetSignature(r, s, report); err != nil {
				return nil, err
			}
			return report, nil
		}
		return nil, os.ErrNotExist
	}
	return &FakeSNP{
		Client: &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": tsm}},
		Root:   attestsnp.Root{Product: attestsnp.Milan, ARK: signer.Ark, ASK: signer.Ask},
		Signer: signer,
	}, nil
}

// reportTemplate returns a function making the unsigned version 3 Milan
// report the fake guest described by opts returns for reportData.
func reportTemplate(opts SNPOptions) func(reportData []byte) [labi.SnpReportRespReportSize]byte {
	// go-sev-guest's raw test report sets DEBUG; real keeps run without it.
	policy := abi.SnpPolicyToBytes(abi.SnpPolicy{Debug: opts.Debug})
	fms := abi.MaskedCpuid1EaxFromSevProduct(abi.DefaultSevProduct())
	return func(reportData []byte) [labi.SnpReportRespReportSize]byte {
		raw := sevtest.CreateRawReport(&sevtest.TestReportOptions{
			ReportData: reportData,
			Version:    abi.ReportVersion3,
			FMS:        fms,
		})
		binary.LittleEndian.PutUint64(raw[0x08:0x10], policy) // GUEST_POLICY
		copy(raw[0x90:0xC0], opts.Measurement[:])             // MEASUREMENT
		for _, at := range []int{0x38, 0x1E0, 0x1F0} {        // CURRENT, COMMITTED, LAUNCH TCB
			binary.LittleEndian.PutUint64(raw[at:at+8], opts.TCB)
		}
		return raw
	}
}
