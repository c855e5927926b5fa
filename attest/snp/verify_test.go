package snp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func verifyMilan(t *testing.T, report []byte, opts Options) (*Claims, error) {
	t.Helper()
	return Verify(report, readEvidence(t, "snp/milan-vcek.der"), opts)
}

func TestVerifyMilanReport(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	c, err := verifyMilan(t, report, Options{Now: milanReportTime})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Version != 2 {
		t.Errorf("Version = %d, want 2", c.Version)
	}
	if c.Product != Milan {
		t.Errorf("Product = %q, want Milan", c.Product)
	}
	if !bytes.HasPrefix(c.ReportData[:], []byte{1, 2, 3, 4, 5}) {
		t.Errorf("ReportData = %x, want prefix 0102030405", c.ReportData)
	}
	// Every claim must come from the report's own bytes (offsets from the SNP ABI spec).
	if !bytes.Equal(c.Measurement[:], report[0x90:0xC0]) {
		t.Errorf("Measurement = %x, want %x", c.Measurement, report[0x90:0xC0])
	}
	if !bytes.Equal(c.ChipID[:], report[0x1A0:0x1E0]) {
		t.Errorf("ChipID = %x, want %x", c.ChipID, report[0x1A0:0x1E0])
	}
	if !bytes.Equal(c.ReportData[:], report[0x50:0x90]) {
		t.Errorf("ReportData does not match report bytes 0x50..0x90")
	}
	// 0xb0000: SMT (bit 16), the must-be-one bit 17, debug (bit 19): a debug guest.
	if c.Policy.Raw != 0xb0000 || !c.Policy.Debug || !c.Policy.SMT || c.Policy.MigrateMA {
		t.Errorf("Policy = %+v, want raw 0xb0000 with SMT and debug", c.Policy)
	}
	if c.ReportedTCB.Raw != 0x4405000000000002 {
		t.Errorf("ReportedTCB.Raw = %#x", c.ReportedTCB.Raw)
	}
	want := TCB{Raw: 0x4405000000000002, Bootloader: 2, TEE: 0, SNP: 5, Microcode: 0x44}
	if c.ReportedTCB != want {
		t.Errorf("ReportedTCB = %+v, want %+v", c.ReportedTCB, want)
	}
	if c.VMPL != 0 {
		t.Errorf("VMPL = %d, want 0", c.VMPL)
	}
	if c.CurrentTCB.SNP == 0 || c.CommittedTCB.SNP == 0 {
		t.Errorf("current/committed TCB not decoded: %+v %+v", c.CurrentTCB, c.CommittedTCB)
	}
}

func TestVerifyRejectsEverySignedByteFlip(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	opts := Options{Now: milanReportTime}
	if _, err := Verify(report, vcek, opts); err != nil {
		t.Fatalf("unmodified report must verify: %v", err)
	}
	// Bytes 0x0..0x2A0 are signed; 0x2A0..0x330 hold R and S; the rest of
	// the signature field must be zero. Flipping any byte must fail.
	classes := map[error]int{}
	for i := 0; i < len(report); i++ {
		flipped := bytes.Clone(report)
		flipped[i] ^= 0x01
		_, err := Verify(flipped, vcek, opts)
		if err == nil {
			t.Errorf("byte %#x flipped: verification succeeded", i)
			continue
		}
		// A flipped byte either no longer parses or no longer matches the
		// signature; it must never pass as a chain or clock problem.
		found := false
		for _, class := range []error{ErrBadSignature, ErrMalformed, ErrUnsupported} {
			if errors.Is(err, class) {
				classes[class]++
				found = true
			}
		}
		if !found {
			t.Errorf("byte %#x flipped: unexpected error class: %v", i, err)
		}
	}
	if classes[ErrBadSignature] < 0x2A0/2 {
		t.Errorf("only %d flips were caught by the signature check: %v", classes[ErrBadSignature], classes)
	}
	t.Logf("rejections by class: %v", classes)
}

func TestVerifyErrorClasses(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	vcek := readEvidence(t, "snp/milan-vcek.der")
	genoa, err := RootFromPKIPath(Genoa, readEvidence(t, "enarx/genoa.pkipath"))
	if err != nil {
		t.Fatalf("genoa.pkipath: %v", err)
	}
	genoaAsMilan := genoa
	genoaAsMilan.Product = Milan // a wrong root filed under the right product

	measurementFlip := bytes.Clone(report)
	measurementFlip[0x90] ^= 0x80
	sigFlip := bytes.Clone(report)
	sigFlip[0x2A0+5] ^= 0x01

	tests := []struct {
		name   string
		report []byte
		vcek   []byte
		opts   Options
		want   error
	}{
		{"measurement flipped", measurementFlip, vcek, Options{Now: milanReportTime}, ErrBadSignature},
		{"signature flipped", sigFlip, vcek, Options{Now: milanReportTime}, ErrBadSignature},
		{"before VCEK validity", report, vcek, Options{Now: time.Date(2022, 9, 23, 0, 0, 0, 0, time.UTC)}, ErrExpired},
		{"after VCEK validity", report, vcek, Options{Now: time.Date(2029, 9, 25, 0, 0, 0, 0, time.UTC)}, ErrExpired},
		{"only Genoa roots", report, vcek, Options{Now: milanReportTime, Roots: []Root{genoa}}, ErrUntrustedChain},
		{"Genoa roots filed as Milan", report, vcek, Options{Now: milanReportTime, Roots: []Root{genoaAsMilan}}, ErrUntrustedChain},
		{"product pinned to Genoa", report, vcek, Options{Now: milanReportTime, Product: Genoa}, ErrUntrustedChain},
		{"CRL required, none given", report, vcek, Options{Now: milanReportTime, RequireCRL: true}, ErrNoCRL},
		{"short report", report[:100], vcek, Options{Now: milanReportTime}, ErrMalformed},
		{"long report", append(bytes.Clone(report), 0), vcek, Options{Now: milanReportTime}, ErrMalformed},
		{"VCEK garbage", report, []byte("not a certificate"), Options{Now: milanReportTime}, ErrMalformed},
		{"ASK as VCEK", report, genoa.ASK.Raw, Options{Now: milanReportTime}, ErrUntrustedChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Verify(tt.report, tt.vcek, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v; want error wrapping %v", c, err, tt.want)
			}
			if c != nil {
				t.Errorf("claims returned with an error")
			}
		})
	}
}

func TestVerifyMilanRootFromPKIPath(t *testing.T) {
	milan, err := RootFromPKIPath(Milan, readEvidence(t, "enarx/milan.pkipath"))
	if err != nil {
		t.Fatalf("milan.pkipath: %v", err)
	}
	c, err := verifyMilan(t, readEvidence(t, "snp/milan-report.bin"), Options{Now: milanReportTime, Roots: []Root{milan}})
	if err != nil {
		t.Fatalf("Verify with Enarx's Milan roots: %v", err)
	}
	if c.Product != Milan {
		t.Errorf("Product = %q", c.Product)
	}
}

func TestVerifyRequiresClock(t *testing.T) {
	if _, err := verifyMilan(t, readEvidence(t, "snp/milan-report.bin"), Options{}); err == nil {
		t.Fatal("Verify without Options.Now succeeded")
	}
}

func TestVerifyRejectsUnhandledVersions(t *testing.T) {
	report := readEvidence(t, "snp/milan-report.bin")
	for _, v := range []byte{0, 1, 4, 5, 0xff} {
		r := bytes.Clone(report)
		r[0] = v
		if _, err := verifyMilan(t, r, Options{Now: milanReportTime}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("version %d: err = %v, want ErrUnsupported", v, err)
		}
	}
}

func TestDecodeTCBLayouts(t *testing.T) {
	raw := uint64(0x4405000000000002)
	if got := DecodeTCB(Milan, raw); got.Bootloader != 2 || got.SNP != 5 || got.Microcode != 0x44 || got.FMC != 0 {
		t.Errorf("Milan layout: %+v", got)
	}
	// Turin: FMC, bootloader, TEE, SNP in bytes 0..3, microcode in byte 7.
	turin := uint64(0x48_00_00_00_18_04_03_01)
	if got := DecodeTCB(Turin, turin); got != (TCB{Raw: turin, FMC: 1, Bootloader: 3, TEE: 4, SNP: 0x18, Microcode: 0x48}) {
		t.Errorf("Turin layout: %+v", got)
	}
}

func TestDefaultRoots(t *testing.T) {
	roots := DefaultRoots()
	seen := map[string]bool{}
	for _, r := range roots {
		if err := r.ASK.CheckSignatureFrom(r.ARK); err != nil {
			t.Errorf("%s: ASK not signed by ARK: %v", r.Product, err)
		}
		seen[r.Product] = true
	}
	for _, p := range []string{Milan, Genoa, Turin} {
		if !seen[p] {
			t.Errorf("no default root for %s", p)
		}
	}
}
