package attest

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

var evidenceTestNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testEvidence(p Platform) *Evidence {
	switch p {
	case PlatformNil:
		return &Evidence{Platform: p, Report: NilEvidence(ReportData([]byte("spki"), [32]byte{1}, [32]byte{2}))}
	case PlatformSNP:
		return &Evidence{Platform: p, Report: bytes.Repeat([]byte{0xaa}, 1184), Certs: certTable(vcekGUID, []byte("vcek"))}
	default:
		return &Evidence{Platform: p, Report: bytes.Repeat([]byte{0xbb}, 700)}
	}
}

// certTable builds a one-entry SNP certificate table.
func certTable(guid [16]byte, cert []byte) []byte {
	out := make([]byte, 2*certTableHeaderSize, 2*certTableHeaderSize+len(cert))
	copy(out, guid[:])
	binary.LittleEndian.PutUint32(out[16:], 2*certTableHeaderSize)
	binary.LittleEndian.PutUint32(out[20:], uint32(len(cert)))
	return append(out, cert...)
}

func TestEvidenceRoundTrip(t *testing.T) {
	for _, p := range []Platform{PlatformNil, PlatformSNP, PlatformTDX} {
		ev := testEvidence(p)
		ext, err := ev.Extension()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !ext.Id.Equal(OIDEvidence) || ext.Critical {
			t.Fatalf("%s: extension %v critical=%t", p, ext.Id, ext.Critical)
		}
		got, err := ParseEvidenceExtension(ext.Value)
		if err != nil {
			t.Fatalf("%s: parse: %v", p, err)
		}
		if got.Platform != p || !bytes.Equal(got.Report, ev.Report) || !bytes.Equal(got.Certs, ev.Certs) {
			t.Fatalf("%s: round trip gave %+v", p, got)
		}
	}
}

func TestParseEvidenceExtensionRejects(t *testing.T) {
	good, err := testEvidence(PlatformSNP).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v evidenceASN1) []byte {
		der, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	// The SNP test evidence is longer than 255 bytes: its length is
	// 0x82 hi lo; 0x83 00 hi lo says the same, non-canonically.
	if good[1] != 0x82 {
		t.Fatalf("test evidence length form %#x, want 0x82", good[1])
	}
	longForm := append([]byte{0x30, 0x83, 0x00}, good[2:]...)
	tests := []struct {
		name, want string
		der        []byte
	}{
		{"empty", "", nil},
		{"trailing bytes", "trailing", append(bytes.Clone(good), 0)},
		{"not a sequence", "not a SEQUENCE", []byte{0x04, 0x00}},
		{"version 2", "version 2", enc(evidenceASN1{Version: 2, Format: OIDFormatNil})},
		{"unknown format", "unknown evidence format", enc(evidenceASN1{Version: 1, Format: OIDClaims})},
		{"certs on nil", "only SNP", enc(evidenceASN1{Version: 1, Format: OIDFormatNil, Certs: []byte{1}})},
		{"too big", "at most", make([]byte, MaxEvidenceExtension+1)},
		{"non-minimal length", "length", longForm},
	}
	for _, tt := range tests {
		ev, err := ParseEvidenceExtension(tt.der)
		if err == nil || ev != nil || !errors.Is(err, ErrEvidence) {
			t.Errorf("%s: %v, %v; want ErrEvidence", tt.name, ev, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: error %q does not say %q on one line", tt.name, err, tt.want)
		}
	}
}

func TestSNPVCEKLookup(t *testing.T) {
	if got, err := snpVCEK(certTable(vcekGUID, []byte("the vcek"))); err != nil || string(got) != "the vcek" {
		t.Fatalf("snpVCEK = %q, %v", got, err)
	}
	other := vcekGUID
	other[0] ^= 1
	overflow := certTable(vcekGUID, []byte("x"))
	binary.LittleEndian.PutUint32(overflow[16:], 0xffffffff)
	binary.LittleEndian.PutUint32(overflow[20:], 0xffffffff)
	inHeader := certTable(vcekGUID, []byte("x"))
	binary.LittleEndian.PutUint32(inHeader[16:], 0)
	for name, table := range map[string][]byte{
		"empty":           nil,
		"no vcek":         certTable(other, []byte("vlek")),
		"no terminator":   certTable(vcekGUID, nil)[:certTableHeaderSize-1],
		"offset overflow": overflow,
		"inside headers":  inHeader,
		"zero length":     certTable(vcekGUID, nil),
	} {
		if got, err := snpVCEK(table); !errors.Is(err, ErrEvidence) {
			t.Errorf("%s: %q, %v; want ErrEvidence", name, got, err)
		}
	}
}

func TestVerifyEvidenceNil(t *testing.T) {
	spki := []byte("a key")
	mod, cfg := [32]byte{1}, [32]byte{2}
	ev := Evidence{Platform: PlatformNil, Report: NilEvidence(ReportData(spki, mod, cfg))}
	if _, err := VerifyEvidence(ev, spki, mod, cfg, VerifyOptions{Now: evidenceTestNow}); !errors.Is(err, ErrInsecure) {
		t.Fatalf("without AllowInsecure: %v, want ErrInsecure", err)
	}
	opts := VerifyOptions{Now: evidenceTestNow, AllowInsecure: true}
	c, err := VerifyEvidence(ev, spki, mod, cfg, opts)
	if err != nil || c.Platform != PlatformNil || !c.Insecure || c.ModuleDigest != mod || c.ConfigDigest != cfg {
		t.Fatalf("with AllowInsecure: %+v, %v", c, err)
	}
	if _, err := VerifyEvidence(ev, []byte("another key"), mod, cfg, opts); !errors.Is(err, ErrReportData) {
		t.Fatalf("another key: %v, want ErrReportData", err)
	}
	if _, err := VerifyEvidence(ev, spki, mod, [32]byte{3}, opts); !errors.Is(err, ErrReportData) {
		t.Fatalf("another config: %v, want ErrReportData", err)
	}
	if _, err := VerifyEvidence(ev, spki, mod, cfg, VerifyOptions{AllowInsecure: true}); err == nil || !strings.Contains(err.Error(), "Now is required") {
		t.Fatalf("without Now: %v", err)
	}
}

func TestVerifyEvidenceRejectsGarbage(t *testing.T) {
	opts := VerifyOptions{Now: evidenceTestNow, AllowInsecure: true, AllowDebug: true}
	for _, ev := range []Evidence{
		{Platform: PlatformSNP, Report: make([]byte, 1184)},                                          // no certificate table
		{Platform: PlatformSNP, Report: make([]byte, 1184), Certs: certTable(vcekGUID, []byte("x"))}, // VCEK is no certificate
		{Platform: PlatformTDX, Report: make([]byte, 10)},
		{Platform: PlatformTDX, Report: make([]byte, 1000), Certs: []byte{1}},
		{Platform: 0, Report: []byte{1}},
	} {
		if c, err := VerifyEvidence(ev, []byte("k"), [32]byte{}, [32]byte{}, opts); err == nil {
			t.Errorf("%s evidence verified: %+v", ev.Platform, c)
		}
	}
}
