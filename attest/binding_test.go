package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// referenceReportData rebuilds the documented construction independently.
func referenceReportData(spki []byte, module, config [32]byte) [64]byte {
	var buf bytes.Buffer
	for _, f := range [][]byte{[]byte("donjon keep identity v1"), spki, module[:], config[:]} {
		_ = binary.Write(&buf, binary.BigEndian, uint64(len(f)))
		buf.Write(f)
	}
	return sha512.Sum512(buf.Bytes())
}

func testInputs() (spki []byte, module, config [32]byte) {
	return []byte("0Y0\x13\x06\x07*\x86H\xce=\x02\x01 not a real key, just bytes"),
		sha256.Sum256([]byte("app.wasm")), sha256.Sum256([]byte("Donjon.toml"))
}

func TestReportDataConstruction(t *testing.T) {
	spki, module, config := testInputs()
	if got, want := ReportData(spki, module, config), referenceReportData(spki, module, config); got != want {
		t.Errorf("ReportData = %x, documented construction gives %x", got, want)
	}
	if got, want := ReportData(nil, module, config), referenceReportData(nil, module, config); got != want {
		t.Errorf("empty SPKI: ReportData = %x, want %x", got, want)
	}
}

// TestReportDataSplits moves bytes across field boundaries: the raw
// concatenation spki||module||config stays the same, the report data must not.
func TestReportDataSplits(t *testing.T) {
	spki, module, config := testInputs()
	base := ReportData(spki, module, config)
	seen := map[[64]byte]string{base: "base"}
	add := func(name string, s []byte, m, c [32]byte) {
		t.Helper()
		rd := ReportData(s, m, c)
		if prev, dup := seen[rd]; dup {
			t.Errorf("%s collides with %s", name, prev)
		}
		seen[rd] = name
	}
	// The raw concatenation spki||module||config stays the same while the
	// SPKI gives up its last bytes to the module digest, and so on.
	flat := append(append(append([]byte{}, spki...), module[:]...), config[:]...)
	for shift := 1; shift <= len(spki); shift++ {
		cut := len(spki) - shift
		var m, c [32]byte
		copy(m[:], flat[cut:])
		copy(c[:], flat[cut+32:])
		s := append(append([]byte{}, flat[:cut]...), flat[cut+64:]...)
		if !bytes.Equal(append(append(append([]byte{}, s[:cut]...), m[:]...), append(c[:], s[cut:]...)...), flat) {
			t.Fatalf("shift %d: test rearrangement lost bytes", shift)
		}
		add(fmt.Sprintf("spki shorter by %d, tail moved after the digests", shift), s, m, c)
	}
	add("module and config swapped", spki, config, module)
	add("config zero", spki, module, [32]byte{})
	add("spki with a trailing zero", append(append([]byte{}, spki...), 0), module, config)
	add("label bytes prepended to spki", append([]byte(ReportDataLabel), spki...), module, config)
}

func TestCheckReportData(t *testing.T) {
	spki, module, config := testInputs()
	rd := ReportData(spki, module, config)
	if err := CheckReportData(rd[:], spki, module, config); err != nil {
		t.Fatalf("matching report data: %v", err)
	}
	for i := range rd {
		bad := rd
		bad[i] ^= 0x01
		if err := CheckReportData(bad[:], spki, module, config); !errors.Is(err, ErrReportData) {
			t.Errorf("byte %d flipped: err = %v, want ErrReportData", i, err)
		}
	}
	for _, n := range []int{0, 32, 63} {
		if err := CheckReportData(rd[:n], spki, module, config); !errors.Is(err, ErrReportData) {
			t.Errorf("%d bytes: err = %v, want ErrReportData", n, err)
		}
	}
	if err := CheckReportData(append(rd[:], 0), spki, module, config); !errors.Is(err, ErrReportData) {
		t.Errorf("65 bytes: err = %v, want ErrReportData", err)
	}
	otherModule, otherConfig := module, config
	otherModule[0] ^= 0x80
	otherConfig[31] ^= 0x01
	for name, err := range map[string]error{
		"other key":    CheckReportData(rd[:], append([]byte{}, spki[:len(spki)-1]...), module, config),
		"other module": CheckReportData(rd[:], spki, otherModule, config),
		"other config": CheckReportData(rd[:], spki, module, otherConfig),
	} {
		if !errors.Is(err, ErrReportData) {
			t.Errorf("%s: err = %v, want ErrReportData", name, err)
		}
	}
}
