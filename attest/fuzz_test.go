package attest

import (
	"bytes"
	"testing"
)

func FuzzParseClaimsExtension(f *testing.F) {
	for _, p := range []Platform{PlatformNil, PlatformSNP, PlatformTDX} {
		der, err := testClaims(p).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add(der[:len(der)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := ParseClaimsExtension(der)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		// Whatever parses is canonical: it re-encodes to the same bytes.
		again, err := c.Marshal()
		if err != nil {
			t.Fatalf("parsed claims do not marshal: %v", err)
		}
		if !bytes.Equal(again, der) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", der, again)
		}
	})
}

func FuzzParseNilEvidence(f *testing.F) {
	var rd [ReportDataSize]byte
	f.Add(NilEvidence(rd), false)
	for i := range rd {
		rd[i] = byte(i)
	}
	f.Add(NilEvidence(rd), true)
	f.Add([]byte(NilEvidenceHeader), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, evidence []byte, allowInsecure bool) {
		got, err := ParseNilEvidence(evidence)
		if err != nil {
			if _, verr := VerifyNil(evidence, got, true); verr == nil {
				t.Fatal("VerifyNil accepts what ParseNilEvidence rejects")
			}
			return
		}
		if !bytes.Equal(NilEvidence(got), evidence) {
			t.Fatalf("parsed evidence does not re-encode to the input")
		}
		c, err := VerifyNil(evidence, got, allowInsecure)
		if allowInsecure != (err == nil) {
			t.Fatalf("VerifyNil(allowInsecure=%t) err = %v", allowInsecure, err)
		}
		if err == nil && (!c.Insecure || c.Platform != PlatformNil) {
			t.Fatalf("nil claims %+v not marked insecure", c)
		}
	})
}

func FuzzParseEvidenceExtension(f *testing.F) {
	for _, p := range []Platform{PlatformNil, PlatformSNP, PlatformTDX} {
		der, err := testEvidence(p).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add(der[:len(der)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, der []byte) {
		ev, err := ParseEvidenceExtension(der)
		if err != nil {
			if ev != nil {
				t.Fatal("evidence returned with an error")
			}
			return
		}
		again, err := ev.Marshal()
		if err != nil {
			t.Fatalf("parsed evidence does not marshal: %v", err)
		}
		if !bytes.Equal(again, der) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", der, again)
		}
		// The certificate table lookup must not panic on whatever parses.
		_, _ = snpVCEK(ev.Certs)
	})
}

func FuzzSNPVCEK(f *testing.F) {
	f.Add(certTable(vcekGUID, []byte("vcek")))
	f.Add([]byte{})
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, table []byte) {
		vcek, err := snpVCEK(table)
		if err == nil && (len(vcek) == 0 || len(vcek) > len(table)) {
			t.Fatalf("VCEK of %d bytes from a %d-byte table", len(vcek), len(table))
		}
	})
}
