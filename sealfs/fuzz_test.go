//go:build linux

package sealfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"donjon.dev/wasi/vfs"
)

// Targets of FuzzOnDisk: which host file the fuzzer's bytes go into.
const (
	fuzzFileA   = iota // "a", with a journal record pending for it
	fuzzFileC          // "d/c"
	fuzzDirMeta        // the header of "d"
	fuzzJournal        // the journal
	fuzzRoot           // the volume header
	fuzzTargets
)

// fuzzTemplate builds a sealed tree once: "a" (three blocks, with a
// journal record of a write to it pending, as after a crash), "d/c", and
// returns its host directory, the host paths of the targets and the valid
// contents of "a" (before and after the pending record) and "d/c".
func fuzzTemplate(f *testing.F) (string, []string, [][]byte, []byte) {
	host := f.TempDir()
	d, err := Open(host, testKey(1), Options{})
	if err != nil {
		f.Fatal(err)
	}
	oldA := pattern(1, 0, 2*BlockSize+100)
	newA := bytes.Clone(oldA)
	copy(newA[BlockSize-10:], pattern(2, 0, 300))
	if err := writeFile(d, "a", oldA); err != nil {
		f.Fatal(err)
	}
	d.Mkdir("d")
	if err := writeFile(d, "d/c", []byte("content of c")); err != nil {
		f.Fatal(err)
	}
	n, err := d.Open("d", vfs.OpenRead)
	if err != nil {
		f.Fatal(err)
	}
	sub := n.(*Dir)
	paths := make([]string, fuzzTargets)
	paths[fuzzFileA] = filepath.Join(host, d.v.names.seal(&d.id, "a"))
	dpath := filepath.Join(host, d.v.names.seal(&d.id, "d"))
	paths[fuzzFileC] = filepath.Join(dpath, d.v.names.seal(&sub.id, "c"))
	paths[fuzzDirMeta] = filepath.Join(dpath, dirMetaFile)
	paths[fuzzJournal] = filepath.Join(host, journalFile)
	paths[fuzzRoot] = filepath.Join(host, rootFile)
	sub.Close()
	fa, err := d.Open("a", vfs.OpenWrite)
	if err != nil {
		f.Fatal(err)
	}
	d.v.crashAt = "journal"
	if _, err := fa.(vfs.File).Pwritev([][]byte{newA[BlockSize-10 : BlockSize+290]}, BlockSize-10); err != errCrash {
		f.Fatalf("the write did not stop at the journal: %v", err)
	}
	d.v.abandon()
	return host, paths, [][]byte{oldA, newA}, []byte("content of c")
}

// FuzzOnDisk puts arbitrary bytes into a sealed directory's host files (a
// file, a directory header, the journal, the volume header), whole or
// spliced into the real bytes, then opens the directory and reads it all.
// It must never panic, and whatever reads without error must be one of
// the contents the files really had: tampering shows as errors only.
func FuzzOnDisk(f *testing.F) {
	template, paths, versionsA, contentC := fuzzTemplate(f)
	for target := range uint8(fuzzTargets) {
		for mode := range uint8(4) {
			f.Add(target, mode, uint32(0), []byte{})
			f.Add(target, mode, uint32(hdrSize+20), []byte{0xff})
			f.Add(target, mode, uint32(7), bytes.Repeat([]byte{0}, 100))
		}
	}
	real, _ := os.ReadFile(paths[fuzzJournal])
	f.Add(uint8(fuzzJournal), uint8(0), uint32(0), real)
	f.Fuzz(func(t *testing.T, target, mode uint8, off uint32, data []byte) {
		target %= fuzzTargets
		host := filepath.Join(t.TempDir(), "v")
		if err := os.CopyFS(host, os.DirFS(template)); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(template, paths[target])
		p := filepath.Join(host, rel)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mutated := mutate(orig, mode, off, data)
		if err := os.WriteFile(p, mutated, 0o600); err != nil {
			t.Fatal(err)
		}
		changed := !bytes.Equal(orig, mutated)

		d, err := Open(host, testKey(1), Options{})
		if err != nil {
			if target == fuzzFileA || target == fuzzJournal || !changed {
				// Replaying the journal may read a damaged "a", but must
				// not fail Open for it.
				t.Fatalf("Open: %v", err)
			}
			return
		}
		defer d.Close()
		a, errA := readFile(d, "a")
		c, errC := readFile(d, "d/c")
		if errA == nil && !bytes.Equal(a, versionsA[0]) && !bytes.Equal(a, versionsA[1]) {
			t.Fatalf("a read %d bytes that it never held", len(a))
		}
		if errC == nil && !bytes.Equal(c, contentC) {
			t.Fatalf("d/c read %q", c)
		}
		// Every byte of these that holds anything is authenticated: a
		// change is an error.
		if target == fuzzFileC {
			changed = changesAuthenticated(orig, mutated, int64(len(contentC)))
		}
		if changed && (target == fuzzFileC || target == fuzzDirMeta || target == fuzzRoot) && errC == nil {
			t.Fatalf("target %d changed, yet d/c reads", target)
		}
		if errC != nil && (target == fuzzFileA || target == fuzzJournal || !changed) {
			t.Fatalf("d/c: %v", errC)
		}
		if (errA != nil && !isEIO(errA)) || (errC != nil && !isEIO(errC)) {
			t.Fatalf("errors other than EIO: %v, %v", errA, errC)
		}
	})
}

// mutate builds the fuzzed content of a host file from its real content b.
func mutate(b []byte, mode uint8, off uint32, data []byte) []byte {
	at := 0
	if len(b) > 0 {
		at = int(off % uint32(len(b)+1))
	}
	switch mode % 4 {
	case 0: // replaced
		return bytes.Clone(data)
	case 1: // overwritten at an offset, growing if needed
		out := bytes.Clone(b)
		if need := at + len(data); need > len(out) {
			out = append(out, make([]byte, need-len(out))...)
		}
		copy(out[at:], data)
		return out
	case 2: // cut at an offset, then extended with data
		return append(bytes.Clone(b[:at]), data...)
	default: // bits flipped with data as a mask
		out := bytes.Clone(b)
		for i, x := range data {
			if at+i < len(out) {
				out[at+i] ^= x
			}
		}
		return out
	}
}

// changesAuthenticated tells whether mutated differs from orig, the host
// file of a file of size bytes, in its length or in a byte that holds
// anything (see authenticated).
func changesAuthenticated(orig, mutated []byte, size int64) bool {
	if len(orig) != len(mutated) {
		return true
	}
	for i := range orig {
		if orig[i] != mutated[i] && authenticated(int64(i), size) {
			return true
		}
	}
	return false
}
