package snp

import (
	"bytes"
	"testing"
)

// FuzzVerify feeds arbitrary report bytes, verified with the real VCEK. It
// must never panic, and anything it accepts must carry the bytes it was given.
func FuzzVerify(f *testing.F) {
	report := readEvidence(f, "snp/milan-report.bin")
	vcek := readEvidence(f, "snp/milan-vcek.der")
	f.Add(report)
	f.Add(report[:0x2A0])
	f.Add([]byte{})
	v3 := bytes.Clone(report)
	v3[0] = 3
	f.Add(v3)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Verify(b, vcek, Options{Now: milanReportTime})
		if err != nil {
			return
		}
		if !bytes.Equal(c.Measurement[:], b[0x90:0xC0]) {
			t.Fatalf("accepted report claims a measurement it does not carry")
		}
	})
}

// FuzzParseEnarxEvidence feeds arbitrary extension values; it must never panic.
func FuzzParseEnarxEvidence(f *testing.F) {
	_, value := enarxCSR(f)
	f.Add(value)
	f.Add(value[:len(value)/3])
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		report, vcek, crls, err := ParseEnarxEvidence(b)
		if err != nil {
			if report != nil || vcek != nil || crls != nil {
				t.Fatalf("results returned with an error")
			}
			return
		}
		if len(report) == 0 || len(vcek) == 0 {
			t.Fatalf("accepted evidence without a report or VCEK")
		}
	})
}
