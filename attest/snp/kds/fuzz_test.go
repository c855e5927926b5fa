package kds_test

import (
	"encoding/binary"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/abi"

	"donjon.dev/attest/snp/kds"
)

var fuzzHints = []string{"", kds.Milan, kds.Genoa, kds.Turin, "Naples"}

// FuzzParseReport feeds arbitrary reports to the report -> KDS URL path and
// checks that it never panics, that errors are one line, and that every URL
// it builds is well formed and carries the report's own chip and TCB.
func FuzzParseReport(f *testing.F) {
	f.Add(readEvidence(f, "snp/milan-report.bin"), uint8(1))
	f.Add(readEvidence(f, "snp/milan-report.bin"), uint8(0))
	f.Add(makeReport(f, 3, 0x19, 0x01, testChip(1), 0x4405000000000002), uint8(0))
	f.Add(makeReport(f, 3, 0x19, 0x11, testChip(2), 0xd515ccddeeff0007), uint8(0))
	f.Add(makeReport(f, 3, 0x19, 0xA0, testChip(3), 1), uint8(2))
	f.Add(makeReport(f, 3, 0x1A, 0x02, testChip(4), 0x5a00000004030201), uint8(0))
	f.Add(makeReport(f, 4, 0x1A, 0x11, testChip(5), 0xffffffffffffffff), uint8(3))
	f.Add(makeReport(f, 3, 0x17, 0x31, testChip(6), 0), uint8(2))
	f.Add(makeReport(f, 3, 0x19, 0x01, [64]byte{}, 0), uint8(0))
	vlek := makeReport(f, 3, 0x19, 0x01, testChip(7), 0)
	binary.LittleEndian.PutUint32(vlek[0x48:], abi.ComposeSignerInfo(abi.SignerInfo{SigningKey: abi.VlekReportSigner}))
	f.Add(vlek, uint8(0))
	f.Add([]byte{}, uint8(4))
	f.Add(make([]byte, abi.ReportSize), uint8(1))

	f.Fuzz(func(t *testing.T, report []byte, hintIndex uint8) {
		hint := fuzzHints[int(hintIndex)%len(fuzzHints)]
		req, err := kds.ParseReport(report, hint)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			if !errors.Is(err, kds.ErrReport) && !strings.Contains(err.Error(), "product") {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		checkRequest(t, report, req)
	})
}

func checkRequest(t *testing.T, report []byte, req kds.VCEKRequest) {
	product := req.Product()
	prefix := "/vcek/v1/" + product + "/"
	if product != kds.Milan && product != kds.Genoa && product != kds.Turin {
		t.Fatalf("product %q", product)
	}
	u, err := url.Parse("https://kds.example" + req.Path())
	if err != nil {
		t.Fatalf("Path %q does not parse as a URL: %v", req.Path(), err)
	}
	if !strings.HasPrefix(u.Path, prefix) {
		t.Fatalf("Path %q does not start with %s", req.Path(), prefix)
	}
	hwid := strings.TrimPrefix(u.Path, prefix)
	chip := report[0x1A0:0x1E0]
	wantHWID := chip
	if product == kds.Turin {
		wantHWID = chip[:8]
	}
	if hwid != hexOf(wantHWID) {
		t.Fatalf("hwid %q, want %x", hwid, wantHWID)
	}
	// Every SPL in the query is the byte of REPORTED_TCB the layout says.
	tcb := binary.LittleEndian.Uint64(report[0x180:])
	at := map[string]uint{"blSPL": 0, "teeSPL": 1, "snpSPL": 6, "ucodeSPL": 7}
	if product == kds.Turin {
		at = map[string]uint{"fmcSPL": 0, "blSPL": 1, "teeSPL": 2, "snpSPL": 3, "ucodeSPL": 7}
	}
	q := u.Query()
	if len(q) != len(at) {
		t.Fatalf("query %q has %d parameters, want %d", u.RawQuery, len(q), len(at))
	}
	for name, i := range at {
		got, err := strconv.Atoi(q.Get(name))
		if err != nil || got != int(uint8(tcb>>(8*i))) {
			t.Fatalf("%s = %q, want %d (TCB %#x)", name, q.Get(name), uint8(tcb>>(8*i)), tcb)
		}
	}
	if name := req.CacheName(); len(name) != 68 || strings.ContainsAny(name, "/\\") {
		t.Fatalf("CacheName %q", name)
	}
}
