//go:build linux

package sealfs

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"donjon.dev/wasi/vfs"
)

func testKey(seed byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

// openTemp opens a new sealed directory, closed at the end of the test.
func openTemp(t *testing.T) (*Dir, string) {
	t.Helper()
	host := t.TempDir()
	d, err := Open(host, testKey(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, host
}

func reopen(t *testing.T, host string) *Dir {
	t.Helper()
	d, err := Open(host, testKey(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustOpenFile(t *testing.T, d vfs.Dir, path string, flags vfs.OpenFlags) vfs.File {
	t.Helper()
	n, err := d.Open(path, flags)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	f, ok := n.(vfs.File)
	if !ok {
		t.Fatalf("Open(%q) gave a %T", path, n)
	}
	return f
}

func writeFile(d vfs.Dir, path string, data []byte) error {
	n, err := d.Open(path, vfs.OpenWrite|vfs.OpenCreate|vfs.OpenTruncate)
	if err != nil {
		return err
	}
	f := n.(vfs.File)
	defer f.Close()
	for len(data) > 0 {
		m, err := f.Writev([][]byte{data})
		if err != nil {
			return err
		}
		data = data[m:]
	}
	return nil
}

func mustWrite(t *testing.T, d vfs.Dir, path string, data []byte) {
	t.Helper()
	if err := writeFile(d, path, data); err != nil {
		t.Fatalf("writing %q: %v", path, err)
	}
}

func readFile(d vfs.Dir, path string) ([]byte, error) {
	n, err := d.Open(path, vfs.OpenRead)
	if err != nil {
		return nil, err
	}
	f, ok := n.(vfs.File)
	if !ok {
		n.Close()
		return nil, syscall.EISDIR
	}
	defer f.Close()
	return readAll(f)
}

func readAll(f vfs.File) ([]byte, error) {
	var out []byte
	buf := make([]byte, 7000) // not a multiple of the block size
	for {
		n, err := f.Readv([][]byte{buf})
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
	}
}

func mustRead(t *testing.T, d vfs.Dir, path string) []byte {
	t.Helper()
	b, err := readFile(d, path)
	if err != nil {
		t.Fatalf("reading %q: %v", path, err)
	}
	return b
}

func listNames(t *testing.T, d vfs.Dir) []string {
	t.Helper()
	if err := d.Rewind(); err != nil {
		t.Fatal(err)
	}
	var names []string
	ents := make([]vfs.Dirent, 3)
	for {
		n, err := d.ReadDir(ents)
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("ReadDir: %v", err)
		}
		for _, e := range ents[:n] {
			names = append(names, e.Name)
		}
	}
}

// snapshot describes a whole tree: every path with its type, and the
// contents of files, sorted.
func snapshot(d vfs.Dir) (string, error) {
	var lines []string
	var walk func(d vfs.Dir, prefix string) error
	walk = func(d vfs.Dir, prefix string) error {
		if err := d.Rewind(); err != nil {
			return err
		}
		var ents []vfs.Dirent
		buf := make([]vfs.Dirent, 16)
		for {
			n, err := d.ReadDir(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("ReadDir %q: %w", prefix, err)
			}
			ents = append(ents, buf[:n]...)
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
		for _, e := range ents {
			p := prefix + e.Name
			switch e.Type {
			case vfs.TypeDirectory:
				lines = append(lines, p+"/")
				n, err := d.Open(e.Name, vfs.OpenRead|vfs.OpenDirectory)
				if err != nil {
					return fmt.Errorf("open %q: %w", p, err)
				}
				err = walk(n.(vfs.Dir), p+"/")
				n.Close()
				if err != nil {
					return err
				}
			case vfs.TypeRegularFile:
				b, err := readFile(d, e.Name)
				if err != nil {
					return fmt.Errorf("read %q: %w", p, err)
				}
				lines = append(lines, fmt.Sprintf("%s %q", p, b))
			default:
				lines = append(lines, fmt.Sprintf("%s type %d", p, e.Type))
			}
		}
		return nil
	}
	err := walk(d, "")
	sort.Strings(lines)
	return strings.Join(lines, "\n"), err
}

// errText names an error by its errno, for comparisons.
func errText(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, vfs.ErrNotCapable):
		return "ENOTCAPABLE"
	case errors.As(err, &errno):
		return fmt.Sprintf("errno %d (%v)", int(errno), errno)
	}
	return "error " + err.Error()
}

func isEIO(err error) bool { return errors.Is(err, syscall.EIO) }

// pattern is recognisable content: byte i of version ver.
func pattern(ver, off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		o := off + i
		b[i] = byte(o) ^ byte(o>>8)*31 ^ byte(ver)*89 ^ byte(ver>>8)
	}
	return b
}

func equalBytes(a, b []byte) bool { return slices.Equal(a, b) }
