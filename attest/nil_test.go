package attest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNilEvidenceRoundTrip(t *testing.T) {
	spki, module, config := testInputs()
	rd := ReportData(spki, module, config)
	ev := NilEvidence(rd)
	if len(ev) != NilEvidenceSize || !bytes.HasPrefix(ev, []byte("donjon nil evidence v1: no hardware")) {
		t.Fatalf("nil evidence %q does not say what it is", ev)
	}
	got, err := ParseNilEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got != rd {
		t.Errorf("parsed report data %x, want %x", got, rd)
	}
	c, err := VerifyNil(ev, rd, true)
	if err != nil {
		t.Fatalf("VerifyNil with allowInsecure: %v", err)
	}
	if c.Platform != PlatformNil || !c.Insecure || c.Debug {
		t.Errorf("claims %+v, want platform nil, insecure, not debug", c)
	}
	// The claims VerifyNil returns are valid claims once the caller adds
	// the digests.
	c.ModuleDigest, c.ConfigDigest = module, config
	if _, err := c.Marshal(); err != nil {
		t.Errorf("nil claims do not marshal: %v", err)
	}
}

func TestNilRefusedByDefault(t *testing.T) {
	var rd [64]byte
	rd[0] = 1
	c, err := VerifyNil(NilEvidence(rd), rd, false)
	if c != nil || !errors.Is(err, ErrInsecure) {
		t.Fatalf("VerifyNil without allowInsecure = %+v, %v; want nil, ErrInsecure", c, err)
	}
	msg := err.Error()
	for _, want := range []string{"nil backend", "protects nothing", "--allow-insecure"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestNilWrongReportData(t *testing.T) {
	spki, module, config := testInputs()
	rd := ReportData(spki, module, config)
	ev := NilEvidence(rd)
	for i := range rd {
		other := rd
		other[i] ^= 0x40
		if _, err := VerifyNil(ev, other, true); !errors.Is(err, ErrReportData) {
			t.Errorf("report data byte %d differs: err = %v, want ErrReportData", i, err)
		}
	}
}

func TestNilMalformed(t *testing.T) {
	var rd [64]byte
	ev := NilEvidence(rd)
	for n := 0; n < len(ev); n++ {
		if _, err := ParseNilEvidence(ev[:n]); !errors.Is(err, ErrNilEvidence) {
			t.Errorf("truncated to %d bytes: err = %v, want ErrNilEvidence", n, err)
		}
		if _, err := VerifyNil(ev[:n], rd, true); !errors.Is(err, ErrNilEvidence) {
			t.Errorf("VerifyNil truncated to %d bytes: err = %v, want ErrNilEvidence", n, err)
		}
	}
	if _, err := ParseNilEvidence(append(append([]byte{}, ev...), 0)); !errors.Is(err, ErrNilEvidence) {
		t.Errorf("one extra byte: err = %v, want ErrNilEvidence", err)
	}
	for i := 0; i < len(NilEvidenceHeader); i++ {
		bad := append([]byte{}, ev...)
		bad[i] ^= 0x20
		if _, err := ParseNilEvidence(bad); !errors.Is(err, ErrNilEvidence) {
			t.Errorf("header byte %d flipped: err = %v, want ErrNilEvidence", i, err)
		}
	}
}
