package tee

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	sevtest "github.com/google/go-sev-guest/testing"
)

// header is one raw table header for hand-built tables.
type header struct {
	guid           string
	offset, length uint32
}

func rawTable(t testing.TB, headers []header, tail []byte) []byte {
	t.Helper()
	var b []byte
	for _, h := range headers {
		g, err := hex.DecodeString(strings.ReplaceAll(h.guid, "-", ""))
		if err != nil || len(g) != 16 {
			t.Fatalf("bad GUID %q", h.guid)
		}
		b = append(b, g...)
		b = binary.LittleEndian.AppendUint32(b, h.offset)
		b = binary.LittleEndian.AppendUint32(b, h.length)
	}
	return append(b, tail...)
}

const zeroGUID = "00000000-0000-0000-0000-000000000000"

func TestParseCertTableFromTestChain(t *testing.T) {
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(abi.DefaultSevProduct()), fakeChainCreated)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.CertTableBytes()
	if err != nil {
		t.Fatal(err)
	}
	table, err := ParseCertTable(raw)
	if err != nil {
		t.Fatalf("ParseCertTable: %v", err)
	}
	for _, c := range []struct {
		guid string
		want []byte
	}{{GUIDVCEK, signer.Vcek.Raw}, {GUIDVLEK, signer.Vlek.Raw}, {GUIDASK, signer.Ask.Raw}, {GUIDARK, signer.Ark.Raw}} {
		if !bytes.Equal(table.Get(c.guid), c.want) {
			t.Errorf("entry %s differs from the test chain", c.guid)
		}
	}
	// The result must not alias the input.
	vcek := bytes.Clone(table.VCEK())
	clear(raw)
	if !bytes.Equal(table.VCEK(), vcek) {
		t.Fatal("parsed entries alias the input buffer")
	}
}

func TestParseCertTableShapes(t *testing.T) {
	body := []byte("certificate")
	oneEntry := rawTable(t, []header{{GUIDVCEK, 48, uint32(len(body))}, {zeroGUID, 0, 0}}, body)
	tests := []struct {
		name    string
		in      []byte
		want    int // entries, when valid
		wantErr string
	}{
		{"empty", nil, 0, ""},
		{"terminator only", rawTable(t, []header{{zeroGUID, 0, 0}}, nil), 0, ""},
		{"one entry", oneEntry, 1, ""},
		{"truncated header", rawTable(t, []header{{GUIDASK, 0, 0}}, make([]byte, 10)), 0, "header 1 runs past the end"},
		{"no terminator", rawTable(t, []header{{GUIDASK, 0, 0}}, nil), 0, "header 1 runs past the end"},
		{"short first header", oneEntry[:20], 0, "header 0 runs past the end"},
		{"entry past the end", rawTable(t, []header{{GUIDVCEK, 48, 100}, {zeroGUID, 0, 0}}, body), 0, "spans bytes 48..148 of a 59-byte table"},
		{"offset overflow", rawTable(t, []header{{GUIDVCEK, 0xffffffff, 2}, {zeroGUID, 0, 0}}, body), 0, "spans bytes 4294967295..4294967297"},
		{"entry inside headers", rawTable(t, []header{{GUIDVCEK, 8, 4}, {zeroGUID, 0, 0}}, body), 0, "inside the 48-byte header list"},
		{"too large", make([]byte, maxCertTable+1), 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := ParseCertTable(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrCertTable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCertTable: %v, want ErrCertTable saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCertTable: %v", err)
			}
			if len(table) != tt.want {
				t.Fatalf("%d entries, want %d", len(table), tt.want)
			}
		})
	}
	table, err := ParseCertTable(oneEntry)
	if err != nil || !bytes.Equal(table.VCEK(), body) || table.VLEK() != nil || table[0].GUID != GUIDVCEK {
		t.Fatalf("one-entry table parsed as %+v (err %v)", table, err)
	}
}

func TestParseCertTableEntryLimit(t *testing.T) {
	headers := make([]header, maxCertEntries+2)
	for i := range maxCertEntries + 1 {
		headers[i] = header{GUIDASK, 0, 0}
	}
	headers[maxCertEntries+1] = header{zeroGUID, 0, 0}
	if _, err := ParseCertTable(rawTable(t, headers, nil)); !errors.Is(err, ErrCertTable) || !strings.Contains(err.Error(), "more than 64 entries") {
		t.Fatalf("ParseCertTable of %d entries: %v, want the entry limit", maxCertEntries+1, err)
	}
}

// FuzzParseCertTable: the table comes from the host, so no input may panic,
// and every accepted entry must lie inside the input.
func FuzzParseCertTable(f *testing.F) {
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(abi.DefaultSevProduct()), fakeChainCreated)
	if err != nil {
		f.Fatal(err)
	}
	raw, err := signer.CertTableBytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte{})
	f.Add(rawTable(f, []header{{GUIDVCEK, 48, 3}, {zeroGUID, 0, 0}}, []byte("abc")))
	f.Add(rawTable(f, []header{{GUIDVCEK, 0xffffffff, 2}, {zeroGUID, 0, 0}}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		table, err := ParseCertTable(b)
		if err != nil {
			if !errors.Is(err, ErrCertTable) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error %q is not a one-line ErrCertTable", err)
			}
			return
		}
		total := 0
		for _, e := range table {
			total += len(e.Data)
			if len(e.GUID) != 36 || !bytes.Contains(b, e.Data) {
				t.Fatalf("entry %+v is not from the input", e)
			}
		}
		if len(table) > maxCertEntries || (len(table) > 0 && total > len(b)*len(table)) {
			t.Fatalf("%d entries holding %d bytes from %d input bytes", len(table), total, len(b))
		}
	})
}
