package kds_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/abi"

	"donjon.dev/attest/snp/kds"
)

func TestParseReportRealMilan(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	req, err := kds.ParseReport(report, kds.Milan)
	if err != nil {
		t.Fatalf("ParseReport: %v", err)
	}
	if got := req.Path(); got != milanPath {
		t.Errorf("Path =\n %s\nwant\n %s", got, milanPath)
	}
	if req.Product() != kds.Milan {
		t.Errorf("Product = %q", req.Product())
	}
	if req.TCB() != 0x4405000000000002 {
		t.Errorf("TCB = %#x", req.TCB())
	}
	chip := req.ChipID()
	if !bytes.Equal(chip[:], report[0x1A0:0x1E0]) || len(req.HWID()) != 64 {
		t.Errorf("ChipID/HWID do not match the report's CHIP_ID")
	}
	name := req.CacheName()
	if len(name) != 64+len(".der") || !strings.HasSuffix(name, ".der") || strings.Trim(name[:64], "0123456789abcdef") != "" {
		t.Errorf("CacheName = %q, want 64 hex digits and .der", name)
	}
	if !strings.Contains(req.String(), "Milan chip 3ac3fe21") {
		t.Errorf("String = %q", req.String())
	}
}

func TestParseReportVersion2NeedsProduct(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	_, err := kds.ParseReport(report, "")
	if !errors.Is(err, kds.ErrReport) || !strings.Contains(err.Error(), "set the product") {
		t.Fatalf("err = %v, want ErrReport asking for the product", err)
	}
	// A v2 report has no CPUID, so any known hint is taken as given.
	req, err := kds.ParseReport(report, kds.Genoa)
	if err != nil || !strings.HasPrefix(req.Path(), "/vcek/v1/Genoa/"+milanChipHex+"?") {
		t.Fatalf("with hint Genoa: %v, %q", err, req.Path())
	}
	if _, err := kds.ParseReport(report, "Naples"); err == nil || !strings.Contains(err.Error(), `"Naples"`) {
		t.Fatalf("unknown hint: err = %v", err)
	}
}

func TestParseReportProductFromCPUID(t *testing.T) {
	chip := testChip(1)
	const tcb = 0x0b00000000000301 // Milan layout: bl 1, tee 3, snp 0, ucode 0x0b
	for _, tc := range []struct {
		family, model byte
		want          string
	}{
		{0x19, 0x01, kds.Milan},
		{0x19, 0x00, kds.Milan},
		{0x19, 0x11, kds.Genoa},
		{0x19, 0xA0, kds.Genoa}, // Bergamo, Siena
		{0x1A, 0x02, kds.Turin},
		{0x1A, 0x11, kds.Turin},
	} {
		report := makeReport(t, 3, tc.family, tc.model, chip, tcb)
		req, err := kds.ParseReport(report, "")
		if err != nil {
			t.Errorf("family %#x model %#x: %v", tc.family, tc.model, err)
			continue
		}
		if req.Product() != tc.want {
			t.Errorf("family %#x model %#x: product %q, want %q", tc.family, tc.model, req.Product(), tc.want)
		}
		// A hint that agrees is fine; one that disagrees is an error.
		if _, err := kds.ParseReport(report, tc.want); err != nil {
			t.Errorf("agreeing hint: %v", err)
		}
		other := kds.Milan
		if tc.want == kds.Milan {
			other = kds.Genoa
		}
		if _, err := kds.ParseReport(report, other); !errors.Is(err, kds.ErrReport) || !strings.Contains(err.Error(), "CPUID says "+tc.want) {
			t.Errorf("family %#x model %#x with hint %s: err = %v", tc.family, tc.model, other, err)
		}
	}
}

func TestParseReportUnknownCPUID(t *testing.T) {
	report := makeReport(t, 3, 0x17, 0x31, testChip(1), 0) // Zen 2: no SNP
	if _, err := kds.ParseReport(report, ""); !errors.Is(err, kds.ErrReport) || !strings.Contains(err.Error(), "family 0x17 model 0x31") {
		t.Fatalf("err = %v", err)
	}
	req, err := kds.ParseReport(report, kds.Genoa)
	if err != nil || req.Product() != kds.Genoa {
		t.Fatalf("an unknown CPUID with a hint must use the hint: %v %q", err, req.Product())
	}
}

func TestParseReportMilanGenoaURL(t *testing.T) {
	chip := testChip(0x40)
	// bl 7, tee 0, reserved 0xff 0xee 0xdd 0xcc (ignored), snp 21, ucode 213
	const tcb = 0xd515ccddeeff0007
	req, err := kds.ParseReport(makeReport(t, 3, 0x19, 0x11, chip, tcb), "")
	if err != nil {
		t.Fatal(err)
	}
	want := "/vcek/v1/Genoa/" + hexOf(chip[:]) + "?blSPL=7&teeSPL=0&snpSPL=21&ucodeSPL=213"
	if req.Path() != want {
		t.Errorf("Path =\n %s\nwant\n %s", req.Path(), want)
	}
}

func TestParseReportTurinURL(t *testing.T) {
	chip := testChip(0x80)
	// Turin layout: fmc 1, bl 2, tee 3, snp 4, reserved, ucode 0x5a.
	const tcb = 0x5a00000004030201
	req, err := kds.ParseReport(makeReport(t, 3, 0x1A, 0x02, chip, tcb), "")
	if err != nil {
		t.Fatal(err)
	}
	want := "/vcek/v1/Turin/" + hexOf(chip[:8]) + "?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=90"
	if req.Path() != want {
		t.Errorf("Path =\n %s\nwant\n %s", req.Path(), want)
	}
	if len(req.HWID()) != 8 {
		t.Errorf("Turin HWID is %d bytes, want 8", len(req.HWID()))
	}
	// The cache name covers exactly what KDS distinguishes: the same chip
	// at another TCB is another file.
	other, err := kds.ParseReport(makeReport(t, 3, 0x1A, 0x02, chip, tcb+1), "")
	if err != nil || other.CacheName() == req.CacheName() {
		t.Errorf("another TCB must give another cache name (%v)", err)
	}
}

func TestParseReportRejects(t *testing.T) {
	good := func() []byte { return makeReport(t, 3, 0x19, 0x01, testChip(1), 0x4405000000000002) }
	if _, err := kds.ParseReport(good(), ""); err != nil {
		t.Fatalf("baseline report: %v", err)
	}
	signer := func(info abi.SignerInfo) []byte {
		r := good()
		binary.LittleEndian.PutUint32(r[0x48:], abi.ComposeSignerInfo(info))
		return r
	}
	version := func(v uint32) []byte {
		r := good()
		binary.LittleEndian.PutUint32(r[0:], v)
		return r
	}
	for _, tc := range []struct {
		name   string
		report []byte
		want   string
	}{
		{"empty", nil, "0 bytes"},
		{"short", good()[:1000], "1000 bytes"},
		{"with certificate table", append(good(), make([]byte, 100)...), "1284 bytes"},
		{"version 1", version(1), "version 1"},
		{"version 6", version(6), "version 6"},
		{"VLEK", signer(abi.SignerInfo{SigningKey: abi.VlekReportSigner}), "VLEK"},
		{"unsigned", signer(abi.SignerInfo{SigningKey: abi.NoneReportSigner}), "not signed"},
		{"reserved signer", signer(abi.SignerInfo{SigningKey: 3}), "reserved signing key 3"},
		{"masked chip key", signer(abi.SignerInfo{MaskChipKey: true}), "MASK_CHIP_KEY"},
		{"masked chip id", makeReport(t, 3, 0x19, 0x01, [64]byte{}, 1), "masked"},
	} {
		_, err := kds.ParseReport(tc.report, "")
		if !errors.Is(err, kds.ErrReport) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrReport mentioning %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
	}
	// Turin looks only at the first 8 bytes of CHIP_ID: zeros there mean masked.
	var chip [64]byte
	chip[63] = 1
	if _, err := kds.ParseReport(makeReport(t, 3, 0x1A, 0x02, chip, 1), ""); !errors.Is(err, kds.ErrReport) {
		t.Errorf("Turin with a zero hwid: err = %v", err)
	}
}
