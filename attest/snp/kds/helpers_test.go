package kds_test

import (
	"bytes"
	"crypto/x509"
	"donjon.dev/internal/testevidence"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	sevkds "github.com/google/go-sev-guest/kds"
	sevtest "github.com/google/go-sev-guest/testing"
)

func readEvidence(tb testing.TB, name string) []byte { return testevidence.Read(tb, name) }

// The real Milan report (version 2) and the VCEK that signed it, from the
// evidence README; the VCEK is valid 2022-09-24..2029-09-24.
var milanReportTime = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

const (
	milanChipHex = "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"
	// REPORTED_TCB 0x4405000000000002: bootloader 2, TEE 0, SNP 5, microcode 0x44.
	milanPath = "/vcek/v1/Milan/" + milanChipHex + "?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
)

// testChip is a made-up CHIP_ID for reports built here.
func testChip(seed byte) [64]byte {
	var chip [64]byte
	for i := range chip {
		chip[i] = seed + byte(i)
	}
	return chip
}

// makeReport builds a raw SNP report with go-sev-guest's test helper and
// sets the fields a VCEK lookup reads.
func makeReport(tb testing.TB, version uint32, family, model byte, chip [64]byte, tcb uint64) []byte {
	tb.Helper()
	raw := sevtest.CreateRawReport(&sevtest.TestReportOptions{
		Version: version,
		FMS:     abi.FmsToCpuid1Eax(family, model, 1),
	})
	report := bytes.Clone(raw[:abi.ReportSize])
	copy(report[0x1A0:0x1E0], chip[:])
	binary.LittleEndian.PutUint64(report[0x180:0x188], tcb)
	return report
}

var testChainCreated = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// testSigner is go-sev-guest's test-only ARK/ASK/VCEK chain, with a VCEK that
// carries the given chip id and TCB parts (the default one carries zeros).
func testSigner(tb testing.TB, productName string, hwid []byte, tcb sevkds.TCBParts) *sevtest.AmdSigner {
	tb.Helper()
	b := &sevtest.AmdSignerBuilder{
		Keys:             sevtest.DefaultAmdKeys(),
		ProductName:      productName,
		CSPID:            "go-sev-guest",
		ArkCreationTime:  testChainCreated,
		AskCreationTime:  testChainCreated,
		AsvkCreationTime: testChainCreated,
		VcekCreationTime: testChainCreated,
		VlekCreationTime: testChainCreated,
		VcekCustom: sevtest.CertOverride{
			Extensions: sevtest.CustomExtensions(tcb, hwid, "", productName),
		},
	}
	signer, err := b.TestOnlyCertChain()
	if err != nil {
		tb.Fatalf("test chain: %v", err)
	}
	return signer
}

// signReport signs a raw report with the test chain's VCEK key.
func signReport(tb testing.TB, signer *sevtest.AmdSigner, report []byte) {
	tb.Helper()
	r, s, err := signer.Sign(abi.SignedComponent(report))
	if err != nil {
		tb.Fatalf("signing: %v", err)
	}
	if err := abi.SetSignature(r, s, report); err != nil {
		tb.Fatalf("setting signature: %v", err)
	}
}

func parseCert(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parsing certificate: %v", err)
	}
	return c
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
