//go:build linux

package sealfs

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"donjon.dev/wasi/hostfs"
	"donjon.dev/wasi/vfs"
)

// setupTree builds the same small tree in any vfs.Dir.
func setupTree(t *testing.T, d vfs.Dir) {
	t.Helper()
	for _, p := range []string{"d", "e", "d/sub"} {
		if err := d.Mkdir(p); err != nil {
			t.Fatalf("Mkdir %q: %v", p, err)
		}
	}
	mustWrite(t, d, "f", []byte("hello"))
	mustWrite(t, d, "d/g", []byte("world"))
}

type diffOp struct {
	name string
	run  func(d vfs.Dir) (string, error)
}

func openOp(path string, flags vfs.OpenFlags) diffOp {
	return diffOp{fmt.Sprintf("Open(%q, %#x)", path, flags), func(d vfs.Dir) (string, error) {
		n, err := d.Open(path, flags)
		if err != nil {
			return "", err
		}
		defer n.Close()
		return fmt.Sprintf("type %d", n.Type()), nil
	}}
}

func pathOp(name, path string, call func(vfs.Dir, string) error) diffOp {
	return diffOp{fmt.Sprintf("%s(%q)", name, path), func(d vfs.Dir) (string, error) { return "", call(d, path) }}
}

func renameOp(from, to string) diffOp {
	return diffOp{fmt.Sprintf("Rename(%q, %q)", from, to), func(d vfs.Dir) (string, error) { return "", d.Rename(from, d, to) }}
}

// TestPOSIXLikeHostfs runs the same operations on a host directory
// (package hostfs, which is Linux) and on a sealed one, from the same tree,
// and checks that both give the same errno and leave the same tree.
func TestPOSIXLikeHostfs(t *testing.T) {
	const (
		r  = vfs.OpenRead
		w  = vfs.OpenWrite
		c  = vfs.OpenCreate
		x  = vfs.OpenExclusive
		tr = vfs.OpenTruncate
		dr = vfs.OpenDirectory
	)
	var ops []diffOp
	for _, o := range []struct {
		path  string
		flags vfs.OpenFlags
	}{
		{"f", r}, {"f/", r}, {"f//", r}, {"f", r | dr}, {"d", w}, {"d", r | w}, {"d", c}, {"d", c | x}, {"d", tr},
		{"f", c | x}, {"f", c | w}, {"f", w | tr}, {"missing", r}, {"missing/x", c | w}, {"f/x", r},
		{"new/", c | w}, {"d/", r}, {".", r}, {"./", r}, {"d/..", r}, {"d/sub/../g", r}, {"missing", r | dr},
		{"new", c | dr}, {".", c}, {".", c | x}, {".", w}, {"d/.", r}, {"e//", r | dr}, {"new", c | w | x},
		{"d/sub/../../f", r},
	} {
		ops = append(ops, openOp(o.path, o.flags))
	}
	mkdir := func(d vfs.Dir, p string) error { return d.Mkdir(p) }
	rmdir := func(d vfs.Dir, p string) error { return d.Rmdir(p) }
	unlink := func(d vfs.Dir, p string) error { return d.Unlink(p) }
	stat := func(d vfs.Dir, p string) error {
		st, err := d.StatAt(p, false)
		if err == nil && st.Type == vfs.TypeRegularFile && st.Size != 5 {
			return fmt.Errorf("size %d", st.Size)
		}
		if err == nil && st.Type != vfs.TypeRegularFile && st.Type != vfs.TypeDirectory {
			return fmt.Errorf("type %d", st.Type)
		}
		return err
	}
	settimes := func(d vfs.Dir, p string) error {
		return d.SetTimesAt(p, false, vfs.Time{Mode: vfs.TimeSet, Nanos: 1e18}, vfs.Time{Mode: vfs.TimeOmit})
	}
	readlink := func(d vfs.Dir, p string) error { _, err := d.Readlink(p, make([]byte, 16)); return err }
	for _, p := range []string{"d", "f", "new", "new/", "new//", "missing/x", "f/x", ".", "d/..", "d/sub/x/"} {
		ops = append(ops, pathOp("Mkdir", p, mkdir))
	}
	for _, p := range []string{"e", "e/", "d", "f", "f/", "missing", ".", "d/..", "d/sub", "d/sub/", "d/g/"} {
		ops = append(ops, pathOp("Rmdir", p, rmdir))
	}
	for _, p := range []string{"f", "f/", "d", "d/", "missing", ".", "d/g", "d/g/", "e/.."} {
		ops = append(ops, pathOp("Unlink", p, unlink))
	}
	for _, p := range []string{"f", "f/", "d", "d/", "missing", ".", "d/sub/..", "d/g", "missing/"} {
		ops = append(ops, pathOp("StatAt", p, stat), pathOp("SetTimesAt", p, settimes))
	}
	for _, p := range []string{"f", "f/", "d", "d/", "missing", "."} {
		ops = append(ops, pathOp("Readlink", p, readlink))
	}
	for _, p := range []string{"f", "d", "f/", "d/", "missing/", "."} {
		ops = append(ops, pathOp("Symlink", p, func(d vfs.Dir, p string) error { return d.Symlink("target", p) }))
	}
	for _, l := range [][2]string{{"d", "x"}, {"f", "d"}, {"missing", "x"}, {"f/", "x"}, {"d/", "x"}, {"f", "d/g"}, {".", "x"}} {
		ops = append(ops, diffOp{fmt.Sprintf("Link(%q, %q)", l[0], l[1]), func(d vfs.Dir) (string, error) {
			return "", d.Link(l[0], d, l[1], false)
		}})
	}
	for _, rn := range [][2]string{
		{"f", "new"}, {"f", "d"}, {"d", "f"}, {"d", "e"}, {"e", "d"}, {"d", "d/sub/x"}, {"d", "d/x"}, {"f", "f"},
		{"f/", "x"}, {"f", "x/"}, {"d", "x/"}, {"d/", "x"}, {"missing", "x"}, {".", "x"}, {"f", "."}, {"d/", "e/"},
		{"e", "e"}, {"f", "d/g"}, {"d/g", "f"}, {"d/sub", "sub2"}, {"e", "d/sub"}, {"d", "."}, {"f", "missing/x"},
		{"e", "f/"}, {"d/sub/..", "x"}, {"d", "e/.."},
	} {
		ops = append(ops, renameOp(rn[0], rn[1]))
	}

	for _, op := range ops {
		host := t.TempDir()
		hd, err := hostfs.Open(host)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := Open(t.TempDir(), testKey(1), Options{})
		if err != nil {
			t.Fatal(err)
		}
		setupTree(t, hd)
		setupTree(t, sd)
		hres, herr := op.run(hd)
		sres, serr := op.run(sd)
		if errText(herr) != errText(serr) || hres != sres {
			t.Errorf("%s: hostfs %s %s, sealfs %s %s", op.name, hres, errText(herr), sres, errText(serr))
		}
		htree, err1 := snapshot(hd)
		stree, err2 := snapshot(sd)
		if err1 != nil || err2 != nil || htree != stree {
			t.Errorf("%s: trees differ:\nhostfs (%v):\n%s\nsealfs (%v):\n%s", op.name, err1, htree, err2, stree)
		}
		hd.Close()
		sd.Close()
	}
}

func tell(f vfs.File) int64 {
	p, err := f.Seek(0, 1)
	if err != nil {
		return -1
	}
	return p
}

// TestFileIOLikeHostfs runs the same random sequence of file operations on
// a host file and a sealed one, through two descriptors each, and compares
// every result and the contents as it goes: near the start of the file,
// and across the boundaries of the groups of blocks whose nonces and tags
// share a page on the host.
func TestFileIOLikeHostfs(t *testing.T) {
	t.Run("start", func(t *testing.T) { fileIOLikeHostfs(t, 0, 3000) })
	t.Run("across groups", func(t *testing.T) { fileIOLikeHostfs(t, (2*groupBlocks-2)*BlockSize, 1000) })
}

func fileIOLikeHostfs(t *testing.T, base int64, steps int) {
	hd, err := hostfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	sd, host := openTemp(t)
	const flags = vfs.OpenRead | vfs.OpenWrite | vfs.OpenCreate
	var hf, sf [2]vfs.File
	for i := range 2 {
		hf[i] = mustOpenFile(t, hd, "file", flags)
		sf[i] = mustOpenFile(t, sd, "file", flags)
		defer hf[i].Close()
		defer sf[i].Close()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const maxOff = 5 * BlockSize
	for step := range steps {
		i := rng.IntN(2)
		rel := int64(rng.IntN(maxOff))
		off := base + rel
		n := rng.IntN(3 * BlockSize)
		if rng.IntN(4) == 0 {
			n = rng.IntN(20)
		}
		var desc string
		var hr, sr string
		var herr, serr error
		do := func(f vfs.File, out *string) error {
			switch op := rng.IntN(10); op {
			case 0, 1:
				desc = fmt.Sprintf("Pwritev(%d bytes at %d)", n, off)
				data := pattern(step, int(off), n)
				// Split into two iovecs to exercise gathering.
				k, err := f.Pwritev([][]byte{data[:n/3], data[n/3:]}, off)
				*out = fmt.Sprint(k)
				return err
			case 2:
				desc = fmt.Sprintf("Writev(%d bytes)", n)
				k, err := f.Writev([][]byte{pattern(step, 0, n)})
				*out = fmt.Sprint(k)
				return err
			case 3, 4:
				desc = fmt.Sprintf("Preadv(%d at %d)", n, off)
				buf := make([]byte, n)
				k, err := f.Preadv([][]byte{buf[:n/2], buf[n/2:]}, off)
				*out = fmt.Sprintf("%d %x", k, buf[:k])
				return err
			case 5:
				desc = fmt.Sprintf("Readv(%d)", n)
				buf := make([]byte, n)
				k, err := f.Readv([][]byte{buf})
				*out = fmt.Sprintf("%d %x", k, buf[:k])
				return err
			case 6:
				desc = fmt.Sprintf("Seek(%d, %d)", off-maxOff/2, step%3)
				p, err := f.Seek(off-maxOff/2, step%3)
				*out = fmt.Sprint(p)
				return err
			case 7:
				sz := base + rel/int64(1+step%3)
				desc = fmt.Sprintf("Truncate(%d)", sz)
				return f.Truncate(sz)
			case 8:
				desc = fmt.Sprintf("Allocate(%d, %d)", base+rel/2, n)
				return f.Allocate(base+rel/2, int64(n))
			default:
				on := step%2 == 0
				desc = fmt.Sprintf("SetAppend(%v)", on)
				return f.SetAppend(on)
			}
		}
		seed := rng.Uint64()
		rng = rand.New(rand.NewPCG(seed, 0))
		herr = do(hf[i], &hr)
		rng = rand.New(rand.NewPCG(seed, 0))
		serr = do(sf[i], &sr)
		if herr != nil && serr != nil {
			hr, sr = "", "" // a failed call's other result means nothing
		}
		if errText(herr) != errText(serr) || hr != sr {
			t.Fatalf("step %d, descriptor %d, %s: hostfs %.80s %s; sealfs %.80s %s", step, i, desc, hr, errText(herr), sr, errText(serr))
		}
		if hp, sp := tell(hf[i]), tell(sf[i]); hp != sp {
			st, _ := sf[i].Stat()
			t.Fatalf("step %d, descriptor %d, %s: position %d on the host, %d sealed (size %d, append %v)", step, i, desc, hp, sp, st.Size, sf[i].(*File).append)
		}
		hs, err1 := hf[1-i].Stat()
		ss, err2 := sf[1-i].Stat()
		if err1 != nil || err2 != nil || hs.Size != ss.Size {
			t.Fatalf("step %d, %s: sizes seen by the other descriptor: hostfs %d, sealfs %d (%v %v)", step, desc, hs.Size, ss.Size, err1, err2)
		}
	}
	// The contents agree at the end, and after reopening, when the host
	// file is exactly as long as its size says.
	want, err := readFile(hd, "file")
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, sd, "file"); !equalBytes(got, want) {
		t.Fatalf("contents differ: %d bytes sealed, %d on the host", len(got), len(want))
	}
	for i := range 2 {
		sf[i].Close()
	}
	sd.Close()
	sd = reopen(t, host)
	defer sd.Close()
	if got := mustRead(t, sd, "file"); !equalBytes(got, want) {
		t.Fatalf("contents differ after reopening: %d bytes sealed, %d on the host", len(got), len(want))
	}
	if base > 0 && int64(len(want)) < (groupBlocks+1)*BlockSize {
		t.Errorf("the file ended at %d bytes: it never crossed a group", len(want))
	}
}
