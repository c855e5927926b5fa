//go:build linux

package sealfs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"syscall"
)

// Sizes of the on-disk format (docs/sealfs.md has the byte layouts).
const (
	// KeySize is the length of the key given to Open.
	KeySize = 32
	// BlockSize is the plaintext size of one authenticated block.
	BlockSize = 4096
	// MaxNameLen is the longest file or directory name, in bytes: its
	// encrypted, base64url form must fit NAME_MAX (255) on the host.
	MaxNameLen = 175
	// MaxFileSize is the largest plaintext size of a file.
	MaxFileSize = int64(1) << 50

	idSize    = 16
	nonceSize = 12
	tagSize   = 16
	recSize   = nonceSize + BlockSize + tagSize // one block in memory and in the journal
	macSize   = 32

	slotLen  = 128          // a header slot's bytes; the rest of the slot is zero
	slotSize = 512          // two slots, in separate sectors
	hdrSize  = 2 * slotSize // a header region; blocks start at dataStart
	sivSize  = 16           // synthetic IV of a name
	maxHost  = 255          // NAME_MAX
	rootLen  = 96           // the volume header
	maxPath  = 1<<16 - 1    // longest host path a journal record holds
	maxChunk = 64           // blocks per journal record
	maxJRec  = jPath + maxPath + maxChunk*recSize + macSize
)

// Host names of the volume's own files. They contain a ".", which base64url
// never does, so they never collide with an encrypted name.
const (
	rootFile    = ".sealfs"         // the volume header, and the lock
	journalFile = ".sealfs-journal" // the redo journal
	tmpDir      = ".sealfs-tmp"     // entries being created or removed
	dirMetaFile = ".sealdir"        // a directory's identity, in it
)

const (
	rootMagic     = "dnjnSEAL"
	formatVersion = 2
	fileMagic     = "sfF1"
	dirMagic      = "sfD1"
	journalMagic  = "sfJ1"
)

// ErrWrongKey is what Open returns when the key does not open the sealed
// directory.
var ErrWrongKey = errors.New("wrong key: the directory was sealed by another workload or platform, or its header was altered; run the workload that sealed it, or give it an empty directory")

// ErrNotSealed is what Open returns for a directory that holds files but
// is not a sealed directory: Open never takes over existing files.
var ErrNotSealed = errors.New("it holds files but no sealed directory header (" + rootFile + "); give an empty directory, or the one the workload sealed")

var (
	errNameTooLong = syscall.ENAMETOOLONG
	errInvalidName = syscall.EINVAL
)

// errCorrupt marks on-disk bytes that do not authenticate.
var errCorrupt = errors.New("does not authenticate")

// keys are the subkeys of one volume, each for one purpose, derived with
// HKDF-SHA256 from the workload's key and the volume's random salt.
type keys struct {
	check   []byte // HMAC: key check value of the volume header
	header  []byte // HMAC: header slots of files and directories
	journal []byte // HMAC: journal records
	data    []byte // HKDF pseudorandom key for per-file AES-256-GCM keys
	nameMAC []byte // HMAC: synthetic IVs of names
	nameEnc cipher.Block
}

const kdfLabel = "donjon.dev/sealfs v1 "

func deriveKeys(master, salt []byte) (*keys, error) {
	prk, err := hkdf.Extract(sha256.New, master, salt)
	if err != nil {
		return nil, err
	}
	var k keys
	for _, s := range []struct {
		label string
		dst   *[]byte
	}{
		{"check", &k.check}, {"header", &k.header}, {"journal", &k.journal},
		{"data", &k.data}, {"name-siv", &k.nameMAC},
	} {
		if *s.dst, err = hkdf.Expand(sha256.New, prk, kdfLabel+s.label, 32); err != nil {
			return nil, err
		}
	}
	enc, err := hkdf.Expand(sha256.New, prk, kdfLabel+"name-enc", 32)
	if err != nil {
		return nil, err
	}
	if k.nameEnc, err = aes.NewCipher(enc); err != nil {
		return nil, err
	}
	return &k, nil
}

// fileAEAD is the AES-256-GCM of one file: its key is derived from the
// file's random identity, so nonce reuse is bounded per file, not per volume.
func (k *keys) fileAEAD(id *[idSize]byte) (cipher.AEAD, error) {
	key, err := hkdf.Expand(sha256.New, k.data, kdfLabel+"file "+string(id[:]), 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// blockAD is the associated data of block index of file id: a block cannot
// be moved to another position or file.
func blockAD(ad *[idSize + 8]byte, id *[idSize]byte, index int64) []byte {
	copy(ad[:], id[:])
	binary.LittleEndian.PutUint64(ad[idSize:], uint64(index))
	return ad[:]
}

// Volume header (".sealfs"):
//
//	0  magic "dnjnSEAL"   8  version u32   12 block size u32
//	16 salt [32]          48 root directory id [16]
//	64 HMAC-SHA256(check key, bytes 0..63)
type rootHeader struct {
	salt   [32]byte
	rootID [idSize]byte
}

func (h *rootHeader) encode() []byte {
	b := make([]byte, rootLen)
	copy(b, rootMagic)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint32(b[12:], BlockSize)
	copy(b[16:], h.salt[:])
	copy(b[48:], h.rootID[:])
	return b
}

// parseRoot checks the structure of a volume header; the key check value is
// checked by the caller, once the keys are derived.
func parseRoot(b []byte) (*rootHeader, error) {
	if len(b) != rootLen || string(b[:8]) != rootMagic {
		return nil, errors.New("not a sealed directory header")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return nil, fmt.Errorf("format version %d is not supported by this donjon (it reads version %d)", v, formatVersion)
	}
	if bs := binary.LittleEndian.Uint32(b[12:]); bs != BlockSize {
		return nil, fmt.Errorf("block size %d is not supported", bs)
	}
	var h rootHeader
	copy(h.salt[:], b[16:48])
	copy(h.rootID[:], b[48:64])
	return &h, nil
}

func rootKCV(k *keys, b []byte) []byte {
	m := hmac.New(sha256.New, k.check)
	m.Write(b[:64])
	return m.Sum(nil)
}

// header is the content of a header slot: a file's, or a directory's (which
// has no size and no times: a directory's times are the host's).
//
//	0  magic "sfF1" or "sfD1"   4  zero [4]   8 id [16]
//	24 gen u64   32 size u64   40 atim u64   48 mtim u64   56 ctim u64
//	64 self MAC: HMAC(header key, "self" || bytes 0..63)
//	96 binding MAC: HMAC(header key, "bind" || bytes 0..63 || parent id || name)
//
// The self MAC makes every byte of every slot checkable; the binding MAC
// ties the slot to the entry's place, so that a file or directory copied
// or moved elsewhere on the host fails.
type header struct {
	id               [idSize]byte
	gen              uint64
	size             int64
	atim, mtim, ctim uint64
}

// binding is where an entry lives: its parent directory's id and its name.
type binding struct {
	parent *[idSize]byte
	name   string
}

// slotMACs computes the two MACs of slot bytes 0..63 into s[64:128].
func slotMACs(m hash.Hash, s []byte, b binding) {
	m.Reset()
	m.Write([]byte("self"))
	m.Write(s[:64])
	m.Sum(s[64:64])
	m.Reset()
	m.Write([]byte("bind"))
	m.Write(s[:64])
	m.Write(b.parent[:])
	m.Write([]byte(b.name))
	m.Sum(s[96:96])
}

func encodeSlot(m hash.Hash, dst []byte, magic string, h *header, b binding) {
	s := dst[:slotLen]
	clear(s)
	copy(s, magic)
	copy(s[8:], h.id[:])
	binary.LittleEndian.PutUint64(s[24:], h.gen)
	binary.LittleEndian.PutUint64(s[32:], uint64(h.size))
	binary.LittleEndian.PutUint64(s[40:], h.atim)
	binary.LittleEndian.PutUint64(s[48:], h.mtim)
	binary.LittleEndian.PutUint64(s[56:], h.ctim)
	slotMACs(m, s, b)
}

// slotState is what a slot holds for a given binding.
type slotState int

const (
	slotEmpty slotState = iota // all zero
	slotBound                  // authentic and bound to the binding
	slotStale                  // authentic, bound elsewhere: left by a rename cut short
)

func parseSlot(m hash.Hash, s []byte, magic string, b binding) (header, slotState, error) {
	var h header
	if allZero(s) {
		return h, slotEmpty, nil
	}
	if len(s) < slotLen || !allZero(s[slotLen:]) || string(s[:4]) != magic || !allZero(s[4:8]) {
		return h, 0, errCorrupt
	}
	var want [slotLen]byte
	copy(want[:64], s[:64])
	slotMACs(m, want[:], b)
	if subtle.ConstantTimeCompare(want[64:96], s[64:96]) != 1 {
		return h, 0, errCorrupt
	}
	copy(h.id[:], s[8:24])
	h.gen = binary.LittleEndian.Uint64(s[24:])
	size := binary.LittleEndian.Uint64(s[32:])
	if size > uint64(MaxFileSize) {
		return h, 0, errCorrupt
	}
	h.size = int64(size)
	h.atim = binary.LittleEndian.Uint64(s[40:])
	h.mtim = binary.LittleEndian.Uint64(s[48:])
	h.ctim = binary.LittleEndian.Uint64(s[56:])
	if subtle.ConstantTimeCompare(want[96:128], s[96:128]) != 1 {
		return h, slotStale, nil
	}
	return h, slotBound, nil
}

// parseHeader reads the two slots of a header region (hdrSize bytes at the
// start of a file, or a directory's ".sealdir"). Exactly one slot must be
// bound to b; the other is empty or, after a rename cut short, a stale slot
// of the same entry.
func parseHeader(m hash.Hash, region []byte, magic string, b binding) (h header, slot int, stale int, err error) {
	if len(region) != hdrSize {
		return h, 0, -1, errCorrupt
	}
	var hs [2]header
	var st [2]slotState
	for i := range 2 {
		if hs[i], st[i], err = parseSlot(m, region[i*slotSize:(i+1)*slotSize], magic, b); err != nil {
			return h, 0, -1, err
		}
	}
	stale = -1
	switch {
	case st[0] == slotBound && st[1] != slotBound:
		slot = 0
	case st[1] == slotBound && st[0] != slotBound:
		slot = 1
	default:
		return h, 0, -1, errCorrupt
	}
	if o := 1 - slot; st[o] == slotStale {
		if hs[o].id != hs[slot].id {
			return h, 0, -1, errCorrupt
		}
		stale = o
	}
	return hs[slot], slot, stale, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// blocks is how many blocks hold size bytes.
func blocks(size int64) int64 { return (size + BlockSize - 1) / BlockSize }

// names encrypts names deterministically, SIV-style, so that a lookup can
// compute the host name: iv = HMAC-SHA256(k_siv, parent id || name)[:16],
// ct = AES-256-CTR(k_enc, iv, name), host name = base64url(iv || ct).
// Opening recomputes the IV from the decrypted name, which authenticates
// the name and its parent: an entry moved to another directory fails.
type names struct {
	mac hash.Hash
	enc cipher.Block
	b64 *base64.Encoding
}

func newNames(k *keys) *names {
	// Strict: one host spelling per name, so that no entry can be
	// duplicated under an alternative encoding.
	return &names{mac: hmac.New(sha256.New, k.nameMAC), enc: k.nameEnc, b64: base64.RawURLEncoding.Strict()}
}

func (n *names) siv(dst []byte, parent *[idSize]byte, name []byte) {
	n.mac.Reset()
	n.mac.Write(parent[:])
	n.mac.Write(name)
	var sum [sha256.Size]byte
	copy(dst, n.mac.Sum(sum[:0])[:sivSize])
}

func (n *names) seal(parent *[idSize]byte, name string) string {
	buf := make([]byte, sivSize+len(name))
	n.siv(buf, parent, []byte(name))
	cipher.NewCTR(n.enc, buf[:sivSize]).XORKeyStream(buf[sivSize:], []byte(name))
	return n.b64.EncodeToString(buf)
}

// open decrypts a host name; ok is false unless it is the sealed form of a
// valid name in parent.
func (n *names) open(parent *[idSize]byte, host string) (string, bool) {
	if len(host) > maxHost || len(host) < 23 || strings.ContainsAny(host, ".") { // 23: base64 of 17 bytes
		return "", false
	}
	buf, err := n.b64.DecodeString(host)
	if err != nil || len(buf) <= sivSize {
		return "", false
	}
	name := make([]byte, len(buf)-sivSize)
	cipher.NewCTR(n.enc, buf[:sivSize]).XORKeyStream(name, buf[sivSize:])
	var iv [sivSize]byte
	n.siv(iv[:], parent, name)
	if subtle.ConstantTimeCompare(iv[:], buf[:sivSize]) != 1 || validName(string(name)) != nil {
		return "", false
	}
	return string(name), true
}

// validName checks a single path component given by a guest.
func validName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return errInvalidName
	case len(name) > MaxNameLen:
		return errNameTooLong
	case strings.ContainsAny(name, "/\x00"):
		return errInvalidName
	}
	return nil
}

// record is one journal record: the complete, authenticated result of one
// change to a file (up to maxChunk new blocks and its new header), written
// before the change is applied in place. Layout, integers little-endian:
//
//	0   magic "sfJ1"          4   total length u32, MAC included
//	8   file id [16]          24  from gen u64        32  to gen u64
//	40  slot u8, zero [7]     48  new header slot [128]
//	176 host file length u64  184 first block u64   192 block count u32
//	196 path length u16       198 host path of the file, from the volume root
//	then count blocks of recSize bytes, then a MAC [32]
type record struct {
	fileID   [idSize]byte
	from, to uint64
	slot     int
	slotData []byte // slotLen bytes
	hostLen  int64
	first    int64 // first block
	n        int   // blocks
	path     string
	blocks   []byte // n*recSize: nonce || ciphertext || tag each
}

// Record field offsets.
const (
	jLen     = 4
	jFileID  = 8
	jFrom    = 24
	jTo      = 32
	jSlot    = 40
	jSlotDat = 48
	jHostLen = jSlotDat + slotLen
	jFirst   = jHostLen + 8
	jCount   = jFirst + 8
	jPathLen = jCount + 4
	jPath    = jPathLen + 2
)

// recordMAC authenticates a record: its fixed part and path, then the
// nonce and tag of each block (GCM already authenticates each block's
// ciphertext under the file's key, position included).
func recordMAC(m hash.Hash, dst []byte, prefix []byte, blocks []byte, n int) {
	m.Reset()
	m.Write(prefix)
	for i := range n {
		r := blocks[i*recSize : (i+1)*recSize]
		m.Write(r[:nonceSize])
		m.Write(r[recSize-tagSize:])
	}
	m.Sum(dst[:0])
}

// encodeRecordPrefix writes the fixed part and path of r into b, which must
// hold jPath+len(r.path) bytes; the blocks follow it in the same buffer.
func encodeRecordPrefix(b []byte, r *record, total int) {
	copy(b, journalMagic)
	binary.LittleEndian.PutUint32(b[jLen:], uint32(total))
	copy(b[jFileID:], r.fileID[:])
	binary.LittleEndian.PutUint64(b[jFrom:], r.from)
	binary.LittleEndian.PutUint64(b[jTo:], r.to)
	b[jSlot] = byte(r.slot)
	copy(b[jSlotDat:jSlotDat+slotLen], r.slotData)
	binary.LittleEndian.PutUint64(b[jHostLen:], uint64(r.hostLen))
	binary.LittleEndian.PutUint64(b[jFirst:], uint64(r.first))
	binary.LittleEndian.PutUint32(b[jCount:], uint32(r.n))
	binary.LittleEndian.PutUint16(b[jPathLen:], uint16(len(r.path)))
	copy(b[jPath:], r.path)
}

// parseRecord checks and decodes a journal record from the start of b. A
// record cut short by a crash, or altered, fails.
func parseRecord(m hash.Hash, b []byte) (*record, error) {
	if len(b) < jPath || string(b[:4]) != journalMagic {
		return nil, errCorrupt
	}
	total := int(binary.LittleEndian.Uint32(b[jLen:]))
	if total < jPath+macSize || total > maxJRec || total > len(b) {
		return nil, errCorrupt
	}
	b = b[:total]
	r := &record{
		from:     binary.LittleEndian.Uint64(b[jFrom:]),
		to:       binary.LittleEndian.Uint64(b[jTo:]),
		slot:     int(b[jSlot]),
		slotData: b[jSlotDat : jSlotDat+slotLen],
	}
	copy(r.fileID[:], b[jFileID:])
	hostLen := binary.LittleEndian.Uint64(b[jHostLen:])
	first := binary.LittleEndian.Uint64(b[jFirst:])
	n := binary.LittleEndian.Uint32(b[jCount:])
	pathLen := int(binary.LittleEndian.Uint16(b[jPathLen:]))
	if n > maxChunk || r.slot > 1 || hostLen > uint64(hostLength(MaxFileSize)) || first > uint64(blocks(MaxFileSize)) {
		return nil, errCorrupt
	}
	r.hostLen, r.first, r.n = int64(hostLen), int64(first), int(n)
	blocksAt := jPath + pathLen
	if total != blocksAt+r.n*recSize+macSize {
		return nil, errCorrupt
	}
	r.path = string(b[jPath:blocksAt])
	r.blocks = b[blocksAt : blocksAt+r.n*recSize]
	var want [macSize]byte
	recordMAC(m, want[:], b[:blocksAt], r.blocks, r.n)
	if subtle.ConstantTimeCompare(want[:], b[total-macSize:]) != 1 {
		return nil, errCorrupt
	}
	return r, nil
}
