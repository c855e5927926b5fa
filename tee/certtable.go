package tee

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// The SEV-SNP certificate table (SEV-SNP firmware ABI, "SNP_GUEST_REQUEST
// extended"; configfs-tsm returns it as the auxblob) is a list of 24-byte
// headers {GUID, offset, length} ended by an all-zero header, followed by
// the certificates. Offsets count from the start of the table. The host
// supplies it, so it is parsed as hostile input.

// formatGUID writes a table GUID as 8-4-4-4-12 lowercase hex, the form
// AMD's documents and the GUID constants use.
func formatGUID(g []byte) string {
	h := hex.EncodeToString(g)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Well-known certificate table GUIDs (AMD's GHCB specification).
const (
	GUIDVCEK = "63da758d-e664-4564-adc5-f4b93be8accd"
	GUIDVLEK = "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
	GUIDASK  = "4ab7b379-bbac-4fe4-a02f-05aef327c782"
	GUIDARK  = "c0b406a4-a803-4952-9743-3fb6014cd0ae"
)

// CertEntry is one certificate (usually DER) from the table.
type CertEntry struct {
	GUID string // 8-4-4-4-12 lowercase hex
	Data []byte
}

// CertTable is a parsed certificate table, in table order.
type CertTable []CertEntry

// Get returns the data filed under g, or nil.
func (t CertTable) Get(guid string) []byte {
	for _, e := range t {
		if e.GUID == guid {
			return e.Data
		}
	}
	return nil
}

// VCEK returns the VCEK certificate (DER) or nil.
func (t CertTable) VCEK() []byte { return t.Get(GUIDVCEK) }

// VLEK returns the VLEK certificate (DER) or nil.
func (t CertTable) VLEK() []byte { return t.Get(GUIDVLEK) }

const (
	certHeaderSize = 24
	// maxCertTable bounds what is parsed; real tables are a few KB.
	maxCertTable = 1 << 20
	// maxCertEntries bounds the header list.
	maxCertEntries = 64
)

// ErrCertTable marks a malformed certificate table.
var ErrCertTable = errors.New("malformed SEV-SNP certificate table")

// ParseCertTable parses a certificate table. An empty blob is an empty
// table (the host attached no certificates). Entry data is copied, so the
// result does not alias b.
func ParseCertTable(b []byte) (CertTable, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > maxCertTable {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrCertTable, len(b), maxCertTable)
	}
	var table CertTable
	for i := 0; ; i++ {
		at := i * certHeaderSize
		if at+certHeaderSize > len(b) {
			return nil, fmt.Errorf("%w: header %d runs past the end (%d bytes) without the all-zero terminator", ErrCertTable, i, len(b))
		}
		h := b[at : at+certHeaderSize]
		guid := h[:16]
		offset := binary.LittleEndian.Uint32(h[16:20])
		length := binary.LittleEndian.Uint32(h[20:24])
		if allZero(guid) && offset == 0 && length == 0 {
			break
		}
		if i == maxCertEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrCertTable, maxCertEntries)
		}
		// Checked in 64 bits: offset+length can overflow uint32.
		end := uint64(offset) + uint64(length)
		if end > uint64(len(b)) {
			return nil, fmt.Errorf("%w: entry %d (%s) spans bytes %d..%d of a %d-byte table", ErrCertTable, i, formatGUID(guid), offset, end, len(b))
		}
		table = append(table, CertEntry{GUID: formatGUID(guid), Data: append([]byte(nil), b[offset:end]...)})
	}
	headersEnd := uint32((len(table) + 1) * certHeaderSize)
	for i, e := range table {
		if off := binary.LittleEndian.Uint32(b[i*certHeaderSize+16:]); off < headersEnd && len(e.Data) > 0 {
			return nil, fmt.Errorf("%w: entry %d (%s) starts at %d, inside the %d-byte header list", ErrCertTable, i, e.GUID, off, headersEnd)
		}
	}
	return table, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
