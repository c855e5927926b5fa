//go:build linux

package sealfs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

// hostPath is the host path of a guest path in the sealed directory d.
func hostPath(t *testing.T, d *Dir, host, guest string) string {
	t.Helper()
	parts := strings.Split(guest, "/")
	cur := d
	out := host
	for i, p := range parts {
		out = filepath.Join(out, d.v.names.seal(&cur.id, p))
		if i < len(parts)-1 {
			n, err := cur.Open(p, vfs.OpenRead|vfs.OpenDirectory)
			if err != nil {
				t.Fatal(err)
			}
			cur = n.(*Dir)
			defer cur.Close()
		}
	}
	return out
}

// sealedTree makes a volume with files a (3 blocks), b (3 blocks) and
// d/c, and directories d and e.
func sealedTree(t *testing.T) (*Dir, string) {
	t.Helper()
	d, host := openTemp(t)
	mustWrite(t, d, "a", pattern(1, 0, 2*BlockSize+100))
	mustWrite(t, d, "b", pattern(2, 0, 2*BlockSize+100))
	d.Mkdir("d")
	d.Mkdir("e")
	mustWrite(t, d, "d/c", []byte("in d"))
	return d, host
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// readDirErr reads a whole directory and returns the first error.
func readDirErr(d vfs.Dir) error {
	if err := d.Rewind(); err != nil {
		return err
	}
	ents := make([]vfs.Dirent, 4)
	for {
		n, err := d.ReadDir(ents)
		if err != nil || n == 0 {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// readOutcome reads a whole file: its bytes, or the first error.
func readOutcome(d vfs.Dir, path string) ([]byte, error) { return readFile(d, path) }

// authenticated tells whether byte off of the host file of a file of size
// bytes holds anything: a header slot, or the entry or ciphertext of one
// of its blocks. The rest (the header page after the slots, entries past
// the last block, the tail of an entry page) is never read.
func authenticated(off, size int64) bool {
	switch {
	case off < hdrSize:
		return true
	case off < dataStart:
		return false
	}
	n := blocks(size)
	g, in := (off-dataStart)/groupSize, (off-dataStart)%groupSize
	if in < pageSize {
		j := in / entrySize
		return j < groupBlocks && g*groupBlocks+j < n
	}
	return g*groupBlocks+(in-pageSize)/pageSize < n
}

// TestTamperBitFlips flips one bit at a time in a file's header, block
// entries and ciphertexts, and in a directory's header: every flip reads
// as EIO, never as data. Flips in bytes that hold nothing change nothing.
func TestTamperBitFlips(t *testing.T) {
	d, host := sealedTree(t)
	want := mustRead(t, d, "a")
	size := int64(len(want))
	pa := hostPath(t, d, host, "a")
	fi, _ := os.Stat(pa)
	if fi.Size() != hostLength(size) {
		t.Fatalf("host file of %d bytes for %d, want %d", fi.Size(), size, hostLength(size))
	}
	var offsets, padding []int64
	for off := int64(0); off < fi.Size(); off++ {
		rel := (off - dataStart) % pageSize
		switch {
		case !authenticated(off, size):
			if off%97 == 0 {
				padding = append(padding, off)
			}
		case off < dataStart || rel < groupBlocks*entrySize && (off-dataStart)%groupSize < pageSize || rel < 32 || rel >= pageSize-32 || off%61 == 0:
			offsets = append(offsets, off)
		}
	}
	if len(offsets) < hdrSize+3*entrySize || len(padding) == 0 {
		t.Fatalf("%d offsets, %d padding offsets: the layout is not the one tested", len(offsets), len(padding))
	}
	for _, off := range offsets {
		flip(t, pa, off)
		got, err := readOutcome(d, "a")
		if !isEIO(err) {
			t.Errorf("bit flipped at %d: %d bytes, %v (intact: %v)", off, len(got), err, bytes.Equal(got, want))
		}
		if _, err := d.StatAt("a", false); off < hdrSize && !isEIO(err) {
			t.Errorf("bit flipped at %d: StatAt: %v", off, err)
		}
		flip(t, pa, off)
	}
	for _, off := range padding {
		flip(t, pa, off)
		if got, err := readOutcome(d, "a"); err != nil || !bytes.Equal(got, want) {
			t.Errorf("bit flipped at %d, which holds nothing: %d bytes, %v", off, len(got), err)
		}
		flip(t, pa, off)
	}
	if got := mustRead(t, d, "a"); !bytes.Equal(got, want) {
		t.Fatal("the file does not read back after the flips were undone")
	}
	meta := filepath.Join(hostPath(t, d, host, "d"), dirMetaFile)
	for off := range int64(hdrSize) {
		flip(t, meta, off)
		clear(d.v.dirIDs) // as a fresh Open would
		if _, err := d.StatAt("d/c", false); !isEIO(err) {
			t.Errorf("bit flipped at %d of a directory header: %v", off, err)
		}
		flip(t, meta, off)
	}
}

func TestTamperBlocksAndFiles(t *testing.T) {
	// A block on the host: its entry, then its ciphertext.
	getBlock := func(path string, i int64) []byte {
		b := make([]byte, entrySize+pageSize)
		f, _ := os.Open(path)
		f.ReadAt(b[:entrySize], entryOffset(i))
		f.ReadAt(b[entrySize:], dataOffset(i))
		f.Close()
		return b
	}
	putBlock := func(path string, i int64, b []byte) {
		f, _ := os.OpenFile(path, os.O_RDWR, 0)
		f.WriteAt(b[:entrySize], entryOffset(i))
		f.WriteAt(b[entrySize:], dataOffset(i))
		f.Close()
	}
	size := int64(2*BlockSize + 100)
	end := hostLength(size)
	cases := []struct {
		name   string
		tamper func(t *testing.T, a, b string)
	}{
		{"blocks swapped", func(t *testing.T, a, b string) {
			b0, b1 := getBlock(a, 0), getBlock(a, 1)
			putBlock(a, 0, b1)
			putBlock(a, 1, b0)
		}},
		{"ciphertexts swapped, entries kept", func(t *testing.T, a, b string) {
			b0, b1 := getBlock(a, 0), getBlock(a, 1)
			copy(b0[:entrySize], b1[:entrySize])
			putBlock(a, 1, b0)
		}},
		{"block moved to another position", func(t *testing.T, a, b string) { putBlock(a, 2, getBlock(a, 0)) }},
		{"block of another file", func(t *testing.T, a, b string) { putBlock(a, 1, getBlock(b, 1)) }},
		{"file content swapped", func(t *testing.T, a, b string) {
			data, _ := os.ReadFile(b)
			os.WriteFile(a, data, 0o600)
		}},
		{"header of another file", func(t *testing.T, a, b string) {
			h := make([]byte, hdrSize)
			f, _ := os.Open(b)
			f.ReadAt(h, 0)
			f.Close()
			g, _ := os.OpenFile(a, os.O_RDWR, 0)
			g.WriteAt(h, 0)
			g.Close()
		}},
		{"cut by a byte", func(t *testing.T, a, b string) { os.Truncate(a, end-1) }},
		{"cut by a block", func(t *testing.T, a, b string) { os.Truncate(a, dataOffset(2)) }},
		{"cut to the header", func(t *testing.T, a, b string) { os.Truncate(a, hdrSize) }},
		{"emptied", func(t *testing.T, a, b string) { os.Truncate(a, 0) }},
		{"extended by a byte", func(t *testing.T, a, b string) { os.Truncate(a, end+1) }},
		{"extended by a copy of a block", func(t *testing.T, a, b string) { putBlock(a, 3, getBlock(a, 2)) }},
		{"replaced by a symbolic link", func(t *testing.T, a, b string) { os.Remove(a); os.Symlink(b, a) }},
		{"replaced by a FIFO", func(t *testing.T, a, b string) { os.Remove(a); unix.Mkfifo(a, 0o600) }},
		{"replaced by a directory", func(t *testing.T, a, b string) { os.Remove(a); os.Mkdir(a, 0o700) }},
		{"hard link to another file", func(t *testing.T, a, b string) { os.Remove(a); os.Link(b, a) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, host := sealedTree(t)
			pa, pb := hostPath(t, d, host, "a"), hostPath(t, d, host, "b")
			// Keep b open, so that its state in memory is found by inode.
			f := mustOpenFile(t, d, "b", vfs.OpenRead)
			c.tamper(t, pa, pb)
			if got, err := readOutcome(d, "a"); !isEIO(err) {
				t.Errorf("read: %d bytes, %v; want EIO", len(got), err)
			}
			f.Close()
			// After reopening too, with no state in memory.
			d.Close()
			d2 := reopen(t, host)
			if got, err := readOutcome(d2, "a"); !isEIO(err) {
				t.Errorf("read after reopening: %d bytes, %v; want EIO", len(got), err)
			}
			if got := mustRead(t, d2, "b"); !bytes.Equal(got, pattern(2, 0, 2*BlockSize+100)) {
				t.Error("b was damaged")
			}
		})
	}
}

func TestTamperEntries(t *testing.T) {
	t.Run("file moved to another directory", func(t *testing.T) {
		d, host := sealedTree(t)
		pc := hostPath(t, d, host, "d/c")
		os.Rename(pc, filepath.Join(host, filepath.Base(pc)))
		d.Close()
		d = reopen(t, host)
		if err := readDirErr(d); !isEIO(err) {
			t.Errorf("ReadDir of the directory it was moved to: %v", err)
		}
		if _, err := d.StatAt("d/c", false); err != syscall.ENOENT {
			t.Errorf("StatAt where it was: %v", err)
		}
	})
	t.Run("directory moved to another directory", func(t *testing.T) {
		d, host := sealedTree(t)
		pd := hostPath(t, d, host, "d")
		os.Rename(pd, filepath.Join(hostPath(t, d, host, "e"), filepath.Base(pd)))
		d.Close()
		d = reopen(t, host)
		n, err := d.Open("e", vfs.OpenRead)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if err := readDirErr(n.(*Dir)); !isEIO(err) {
			t.Errorf("ReadDir: %v", err)
		}
	})
	t.Run("file renamed over another", func(t *testing.T) {
		d, host := sealedTree(t)
		os.Rename(hostPath(t, d, host, "a"), hostPath(t, d, host, "b"))
		d.Close()
		d = reopen(t, host)
		if got, err := readOutcome(d, "b"); !isEIO(err) {
			t.Errorf("read: %d bytes, %v", len(got), err)
		}
	})
	t.Run("directory renamed over another", func(t *testing.T) {
		d, host := sealedTree(t)
		pe := hostPath(t, d, host, "e")
		os.Remove(filepath.Join(pe, dirMetaFile))
		os.Remove(pe)
		os.Rename(hostPath(t, d, host, "d"), pe)
		d.Close()
		d = reopen(t, host)
		if _, err := d.StatAt("e", false); !isEIO(err) {
			t.Errorf("StatAt: %v", err)
		}
	})
	t.Run("directory header of another directory", func(t *testing.T) {
		d, host := sealedTree(t)
		data, _ := os.ReadFile(filepath.Join(hostPath(t, d, host, "d"), dirMetaFile))
		os.WriteFile(filepath.Join(hostPath(t, d, host, "e"), dirMetaFile), data, 0o600)
		d.Close()
		d = reopen(t, host)
		if _, err := d.StatAt("e", false); !isEIO(err) {
			t.Errorf("StatAt: %v", err)
		}
	})
	t.Run("directory header removed", func(t *testing.T) {
		d, host := sealedTree(t)
		os.Remove(filepath.Join(hostPath(t, d, host, "d"), dirMetaFile))
		d.Close()
		d = reopen(t, host)
		if _, err := d.StatAt("d/c", false); !isEIO(err) {
			t.Errorf("StatAt: %v", err)
		}
	})
	t.Run("name altered", func(t *testing.T) {
		d, host := sealedTree(t)
		pa := hostPath(t, d, host, "a")
		b := []byte(filepath.Base(pa))
		b[5] ^= 'A' ^ 'B'
		if b[5] == '-' || b[5] == '.' {
			b[5] = 'z'
		}
		os.Rename(pa, filepath.Join(host, string(b)))
		if err := readDirErr(d); !isEIO(err) {
			t.Errorf("ReadDir: %v", err)
		}
	})
	t.Run("name spelled another way", func(t *testing.T) {
		// The same bytes, base64url with non-zero trailing bits: a second
		// spelling would list the entry twice.
		d, host := sealedTree(t)
		pa := hostPath(t, d, host, "a")
		name := filepath.Base(pa)
		raw, _ := base64.RawURLEncoding.DecodeString(name)
		if len(raw)%3 == 0 {
			t.Fatalf("%d sealed bytes: no trailing bits to vary", len(raw)) // "a" seals to 17 bytes
		}
		last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", name[len(name)-1])
		alias := name[:len(name)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last+1])
		if got, err := base64.RawURLEncoding.DecodeString(alias); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("alias %q is not another spelling: %v", alias, err)
		}
		os.Link(pa, filepath.Join(host, alias))
		if err := readDirErr(d); !isEIO(err) {
			t.Errorf("ReadDir: %v", err)
		}
	})
}

func TestTamperVolumeHeader(t *testing.T) {
	d, host := sealedTree(t)
	d.Close()
	p := filepath.Join(host, rootFile)
	for off := range int64(rootLen) {
		flip(t, p, off)
		if d, err := Open(host, testKey(1), Options{}); err == nil {
			d.Close()
			t.Errorf("Open with a bit flipped at %d of the volume header succeeded", off)
		} else if off >= 16 && !errors.Is(err, ErrWrongKey) {
			t.Errorf("flip at %d: %v, want ErrWrongKey", off, err)
		}
		flip(t, p, off)
	}
	os.Truncate(p, rootLen-1)
	if _, err := Open(host, testKey(1), Options{}); err == nil || !strings.Contains(err.Error(), "not a sealed directory header") {
		t.Errorf("Open with a short header: %v", err)
	}
}

// TestJournalGarbage checks that a journal that does not authenticate is
// dropped, and that one naming a file in another state is not applied.
func TestJournalGarbage(t *testing.T) {
	d, host := sealedTree(t)
	f := mustOpenFile(t, d, "a", vfs.OpenWrite)
	f.Pwritev([][]byte{[]byte("new")}, 10) // leaves its record in the journal
	f.Close()
	want := mustRead(t, d, "a")
	jpath := filepath.Join(host, journalFile)
	d.v.mu.Lock()
	d.v.broken = errCrash // keep the record at close, as a crash would
	d.v.mu.Unlock()
	d.Close()
	rec, err := os.ReadFile(jpath)
	if err != nil || len(rec) == 0 {
		t.Fatalf("no journal record: %v", err)
	}
	for i, journal := range [][]byte{
		[]byte("garbage"),
		rec[:len(rec)-1],
		append(bytes.Clone(rec[:40]), append([]byte{rec[40] ^ 1}, rec[41:]...)...),
		rec, // stale: already applied, applying it again changes nothing
	} {
		os.WriteFile(jpath, journal, 0o600)
		d := reopen(t, host)
		if got := mustRead(t, d, "a"); !bytes.Equal(got, want) {
			t.Errorf("journal %d: a reads differently", i)
		}
		d.Close()
		if fi, _ := os.Stat(jpath); fi.Size() != 0 {
			t.Errorf("journal %d was not cleared", i)
		}
	}
	// A record of an older state of the file is not applied.
	d2 := reopen(t, host)
	mustWrite(t, d2, "a", []byte("rewritten"))
	d2.Close()
	os.WriteFile(jpath, rec, 0o600)
	d3 := reopen(t, host)
	if got := mustRead(t, d3, "a"); string(got) != "rewritten" {
		t.Errorf("an old journal record was applied: %q", got)
	}
}
