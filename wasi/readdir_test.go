//go:build linux

package wasi

import (
	"fmt"
	"os"
	"sort"
	"testing"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

type dirent struct {
	next, ino uint64
	typ       vfs.FileType
	name      string
}

// parseDirents decodes a fd_readdir buffer; a cut-short last entry is
// returned in tail.
func parseDirents(b []byte) (ents []dirent, tail []byte) {
	for len(b) >= direntSize {
		n := int(le.Uint32(b[16:]))
		if len(b) < direntSize+n {
			break
		}
		ents = append(ents, dirent{le.Uint64(b), le.Uint64(b[8:]), vfs.FileType(b[20]), string(b[direntSize : direntSize+n])})
		b = b[direntSize+n:]
	}
	return ents, b
}

// readdir calls fd_readdir with a buffer of n bytes.
func (h *harness) readdir(fd uint32, n uint32, cookie uint64) ([]dirent, []byte, uint32) {
	h.t.Helper()
	buf, used := h.alloc(n), h.alloc(4)
	h.ok("fd_readdir", uint64(fd), uint64(buf), uint64(n), cookie, uint64(used))
	u := h.u32(used)
	if u > n {
		h.t.Fatalf("bufused %d > buf_len %d", u, n)
	}
	ents, tail := parseDirents(h.bytes(buf, u))
	return ents, tail, u
}

func fakeListing(n int) *fakeDir {
	d := &fakeDir{ino: 7}
	for i := range n {
		d.ents = append(d.ents, vfs.Dirent{Name: fmt.Sprintf("entry-%02d", i), Ino: uint64(100 + i), Type: vfs.TypeRegularFile})
	}
	return d
}

func TestReaddirWholeAndCookies(t *testing.T) {
	d := fakeListing(5)
	h := newHarnessConfig(t, Config{FDs: []FD{Preopen("/", d)}})
	ents, tail, used := h.readdir(0, 4096, 0)
	if len(tail) != 0 || int(used) >= 4096 {
		t.Fatalf("a large buffer was filled (%d bytes) or cut an entry", used)
	}
	want := []string{".", "..", "entry-00", "entry-01", "entry-02", "entry-03", "entry-04"}
	if len(ents) != len(want) {
		t.Fatalf("%d entries, want %d", len(ents), len(want))
	}
	for i, e := range ents {
		wantIno := uint64(7)
		if i >= 2 {
			wantIno = uint64(100 + i - 2)
		}
		if e.name != want[i] || e.next != uint64(i+1) || e.ino != wantIno {
			t.Errorf("entry %d: %+v, want %s, d_next %d, ino %d", i, e, want[i], i+1, wantIno)
		}
	}
	if ents[0].typ != vfs.TypeDirectory || ents[1].typ != vfs.TypeDirectory || ents[2].typ != vfs.TypeRegularFile {
		t.Errorf("types %d %d %d", ents[0].typ, ents[1].typ, ents[2].typ)
	}
	// Reading from a cookie starts at that entry; past the end is empty.
	for cookie := uint64(0); cookie <= 8; cookie++ {
		got, _, _ := h.readdir(0, 4096, cookie)
		wantN := max(0, len(want)-int(cookie))
		if len(got) != wantN || (wantN > 0 && got[0].name != want[cookie]) {
			t.Errorf("from cookie %d: %d entries, want %d starting at %s", cookie, len(got), wantN, want[min(cookie, 6)])
		}
	}
}

func TestReaddirSmallBuffers(t *testing.T) {
	d := fakeListing(40)
	h := newHarnessConfig(t, Config{FDs: []FD{Preopen("/", d)}})
	full, _, _ := h.readdir(0, 1<<14, 0)
	if len(full) != 42 {
		t.Fatalf("%d entries, want 42", len(full))
	}
	// Every entry of the fake listing takes 24+8 bytes ("." 25, ".." 26).
	for _, size := range []uint32{1, 10, 24, 25, 31, 32, 51, 83, 100, 1000} {
		var got []dirent
		cookie := uint64(0)
		rewinds := d.rewinds
		for calls := 0; ; calls++ {
			if calls > 200 {
				t.Fatalf("buffer %d: no progress", size)
			}
			ents, tail, used := h.readdir(0, size, cookie)
			got = append(got, ents...)
			if used < size {
				if len(tail) != 0 {
					t.Fatalf("buffer %d: a partial entry in a buffer that was not full", size)
				}
				break
			}
			// A full buffer: the cut entry is what the guest reads next.
			if len(tail) > 0 && len(ents) == 0 {
				// Not even one entry fits: the cut entry's start is
				// there, d_next first.
				if len(tail) >= 8 && le.Uint64(tail) != cookie+1 {
					t.Fatalf("buffer %d: cut entry has d_next %d, want %d", size, le.Uint64(tail), cookie+1)
				}
				if size >= 24+8 {
					t.Fatalf("buffer %d: room for an entry, but none was delivered", size)
				}
				break // a guest would grow its buffer; we are done here
			}
			cookie = ents[len(ents)-1].next
		}
		if size < 32 {
			continue // cannot hold a whole entry-NN: the walk stopped there
		}
		if len(got) != len(full) {
			t.Fatalf("buffer %d: %d entries, want %d", size, len(got), len(full))
		}
		for i := range got {
			if got[i] != full[i] {
				t.Fatalf("buffer %d: entry %d is %+v, want %+v", size, i, got[i], full[i])
			}
		}
		// Reading on from where the last call stopped needs no rewind:
		// only the first call of the walk (cookie 0) rewinds.
		if d.rewinds != rewinds+1 {
			t.Errorf("buffer %d: %d rewinds for one walk", size, d.rewinds-rewinds)
		}
	}
	// A truncated header: the first bytes of the first entry.
	buf, used := h.alloc(32), h.alloc(4)
	h.ok("fd_readdir", 0, uint64(buf), 10, 0, uint64(used))
	if h.u32(used) != 10 || le.Uint64(h.mem.b[buf:]) != 1 || h.mem.b[buf+8] != 7 {
		t.Errorf("10-byte buffer: used %d, bytes % x", h.u32(used), h.bytes(buf, 10))
	}
	// A truncated name: header and part of "..".
	h.ok("fd_readdir", 0, uint64(buf), 25, 1, uint64(used))
	if h.u32(used) != 25 || le.Uint32(h.mem.b[buf+16:]) != 2 || h.mem.b[buf+24] != '.' {
		t.Errorf("25 bytes for \"..\": used %d, % x", h.u32(used), h.bytes(buf, 25))
	}
	// An empty buffer delivers nothing.
	h.ok("fd_readdir", 0, uint64(buf), 0, 0, uint64(used))
	if h.u32(used) != 0 {
		t.Errorf("empty buffer: used %d", h.u32(used))
	}
	h.want(errnoFault, "fd_readdir", 0, bad, 100, 0, uint64(used))
	h.want(errnoFault, "fd_readdir", 0, uint64(buf), 10, 0, bad)
	h.want(errnoBadf, "fd_readdir", 1, uint64(buf), 10, 0, uint64(used))
	h.ok("fd_fdstat_set_rights", 0, uint64(rightsDir&^rightFdReaddir), 0)
	h.want(errnoNotcapable, "fd_readdir", 0, uint64(buf), 10, 0, uint64(used))
}

func TestReaddirHost(t *testing.T) {
	h := newHarness(t)
	h.writeHost("file", "x")
	os.Mkdir(h.hostPath("sub"), 0o755)
	os.Symlink("file", h.hostPath("link"))
	for i := range 300 { // more than one getdents buffer
		h.writeHost(fmt.Sprintf("many-%03d", i), "")
	}
	var all []dirent
	cookie := uint64(0)
	for {
		ents, _, used := h.readdir(3, 512, cookie)
		all = append(all, ents...)
		if used < 512 {
			break
		}
		cookie = ents[len(ents)-1].next
	}
	if len(all) != 305 {
		t.Fatalf("%d entries, want 305", len(all))
	}
	var st unix.Stat_t
	unix.Stat(h.dir, &st)
	if all[0].name != "." || all[0].ino != st.Ino || all[1].name != ".." {
		t.Errorf("first entries %+v %+v, dir ino %d", all[0], all[1], st.Ino)
	}
	names := map[string]dirent{}
	for _, e := range all[2:] {
		names[e.name] = e
	}
	for name, typ := range map[string]vfs.FileType{"file": vfs.TypeRegularFile, "sub": vfs.TypeDirectory, "link": vfs.TypeSymbolicLink} {
		e, ok := names[name]
		unix.Lstat(h.hostPath(name), &st)
		if !ok || e.typ != typ || e.ino != st.Ino {
			t.Errorf("%s: %+v, want type %d ino %d", name, e, typ, st.Ino)
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	if len(sorted) != 303 || sorted[0] != "file" || sorted[302] != "sub" {
		t.Errorf("names %v...", sorted[:3])
	}
	// A file is not a directory.
	fd := h.open("file", 0, rightFdRead, 0)
	buf, used := h.alloc(64), h.alloc(4)
	h.want(errnoNotdir, "fd_readdir", uint64(fd), uint64(buf), 64, 0, uint64(used))
}
