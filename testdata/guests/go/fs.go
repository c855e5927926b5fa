package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

const greeting = "hello, donjon\n"

// runFS exercises files and directories inside a fresh work directory under
// dir and removes it again. The check names match the C and Rust guests.
// "fs DIR nolinks" is for a directory that refuses links (a sealed one): the
// link checks then expect EPERM, and no other check makes a link.
func runFS(dir string) {
	links := fsLinks()
	w := filepath.Join(dir, "fs.go.work")
	// A failed earlier run may have left its work directory behind.
	if err := os.RemoveAll(w); err != nil {
		failf("setup", "remove leftover %s: %v", w, err)
	}

	must("mkdir", os.Mkdir(w, 0o755))
	if st, err := os.Stat(w); err != nil || !st.IsDir() {
		failf("mkdir", "stat after mkdir: %v, %v", st, err)
	}
	ok("mkdir")

	a := filepath.Join(w, "a.txt")
	f, err := os.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	must("create-write", err)
	writeAll("create-write", f, greeting[:7])
	writeAll("create-write", f, greeting[7:])
	must("create-write", f.Close())
	ok("create-write")

	st, err := os.Stat(a)
	must("stat", err)
	if !st.Mode().IsRegular() || st.Size() != int64(len(greeting)) {
		failf("stat", "mode %v size %d, want regular file of %d bytes", st.Mode(), st.Size(), len(greeting))
	}
	ok("stat")

	got, err := os.ReadFile(a)
	must("read", err)
	if string(got) != greeting {
		failf("read", "read %q, want %q", got, greeting)
	}
	ok("read")

	checkFstat(a, st)
	checkSeek(a)
	checkPreadPwrite(a)
	checkAppend(a)
	checkTruncate(a)
	checkTwoFDs(w)

	b := filepath.Join(w, "b.txt")
	must("rename", os.Rename(a, b))
	if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		failf("rename", "old name still there: %v", err)
	}
	expectContent("rename", b, "hello\x00\x00\x00\x00\x00")
	// Renaming onto an existing file replaces it.
	must("rename", os.WriteFile(a, []byte("replacement"), 0o644))
	must("rename", os.Rename(a, b))
	expectContent("rename", b, "replacement")
	ok("rename")

	c := filepath.Join(w, "c.txt")
	l := filepath.Join(w, "l")
	if links {
		checkLinks(b, c, l)
	} else {
		checkLinksRefused(w, b, c, l)
	}

	checkTimes(b)

	f, err = os.OpenFile(b, os.O_WRONLY, 0)
	must("fsync", err)
	writeAll("fsync", f, "synced")
	must("fsync", f.Sync())
	must("fsync", f.Close())
	ok("fsync")

	checkReaddir(w, links)
	checkErrors(w, b)

	for _, name := range []string{b, c, l} {
		err := os.Remove(name)
		if !links && name != b {
			// Never created: the directory refused the link.
			if !errors.Is(err, fs.ErrNotExist) {
				failf("unlink", "remove %s, which was never created: %v", name, err)
			}
			continue
		}
		must("unlink", err)
		if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
			failf("unlink", "%s still there: %v", name, err)
		}
	}
	ok("unlink")

	must("rmdir", os.Remove(w))
	if _, err := os.Stat(w); !errors.Is(err, fs.ErrNotExist) {
		failf("rmdir", "%s still there: %v", w, err)
	}
	ok("rmdir")
	done("fs")
}

// fsLinks reads the optional mode after "fs DIR": true unless it is
// "nolinks". main hands runFS only DIR, so the mode is read here.
func fsLinks() bool {
	switch extra := os.Args[3:]; {
	case len(extra) == 0:
		return true
	case len(extra) == 1 && extra[0] == "nolinks":
		return false
	}
	usageExit()
	return false
}

// checkLinks makes c a hard link and l a symbolic link to b.
func checkLinks(b, c, l string) {
	must("hardlink", os.Link(b, c))
	if n := nlink("hardlink", b); n != 2 {
		failf("hardlink", "link count %d, want 2", n)
	}
	must("hardlink", os.WriteFile(c, []byte("shared"), 0o644))
	expectContent("hardlink", b, "shared")
	ok("hardlink")

	must("symlink", os.Symlink("b.txt", l))
	target, err := os.Readlink(l)
	must("symlink", err)
	if target != "b.txt" {
		failf("symlink", "readlink %q, want %q", target, "b.txt")
	}
	lst, err := os.Lstat(l)
	must("symlink", err)
	if lst.Mode()&fs.ModeSymlink == 0 {
		failf("symlink", "lstat mode %v is not a symlink", lst.Mode())
	}
	expectContent("symlink", l, "shared")
	ok("symlink")
}

// checkLinksRefused checks that neither a hard link c nor a symbolic link l
// to b can be made, and leaves b as checkLinks would.
func checkLinksRefused(w, b, c, l string) {
	if err := os.Link(b, c); !errors.Is(err, syscall.EPERM) {
		failf("hardlink-refused", "link: %v, want EPERM", err)
	}
	if _, err := os.Lstat(c); !errors.Is(err, fs.ErrNotExist) {
		failf("hardlink-refused", "after a refused link: %v, want not-exist", err)
	}
	if n := nlink("hardlink-refused", b); n != 1 {
		failf("hardlink-refused", "link count %d after a refused link, want 1", n)
	}
	must("hardlink-refused", os.WriteFile(b, []byte("shared"), 0o644))
	ok("hardlink-refused")

	if err := os.Symlink("b.txt", l); !errors.Is(err, syscall.EPERM) {
		failf("symlink-refused", "symlink: %v, want EPERM", err)
	}
	if _, err := os.Lstat(l); !errors.Is(err, fs.ErrNotExist) {
		failf("symlink-refused", "after a refused symlink: %v, want not-exist", err)
	}
	// Nothing is a link, so reading one is EINVAL, as for any plain file.
	for _, name := range []string{b, w} {
		if _, err := os.Readlink(name); !errors.Is(err, syscall.EINVAL) {
			failf("symlink-refused", "readlink %s: %v, want EINVAL", name, err)
		}
	}
	expectContent("symlink-refused", b, "shared")
	ok("symlink-refused")
}

func writeAll(check string, f *os.File, s string) {
	n, err := f.WriteString(s)
	if err != nil || n != len(s) {
		failf(check, "wrote %d of %d bytes: %v", n, len(s), err)
	}
}

func expectContent(check, name, want string) {
	got, err := os.ReadFile(name)
	must(check, err)
	if string(got) != want {
		failf(check, "%s holds %q, want %q", name, got, want)
	}
}

func nlink(check, name string) uint64 {
	st, err := os.Stat(name)
	must(check, err)
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		failf(check, "no syscall.Stat_t for %s", name)
	}
	return uint64(sys.Nlink)
}

func checkFstat(name string, pathStat fs.FileInfo) {
	f, err := os.Open(name)
	must("fstat", err)
	defer f.Close()
	st, err := f.Stat()
	must("fstat", err)
	if !st.Mode().IsRegular() || st.Size() != pathStat.Size() {
		failf("fstat", "fstat mode %v size %d, stat size %d", st.Mode(), st.Size(), pathStat.Size())
	}
	if !os.SameFile(st, pathStat) {
		failf("fstat", "fstat and stat disagree on device and inode")
	}
	ok("fstat")
}

func checkSeek(name string) {
	f, err := os.Open(name)
	must("seek", err)
	defer f.Close()
	pos, err := f.Seek(7, io.SeekStart)
	if err != nil || pos != 7 {
		failf("seek", "seek to 7: %d, %v", pos, err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "donjon" {
		failf("seek", "read at 7: %q, %v", buf, err)
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 13 {
		failf("seek", "current position %d, %v; want 13", pos, err)
	}
	if pos, err := f.Seek(-1, io.SeekEnd); err != nil || pos != 13 {
		failf("seek", "seek end-1: %d, %v; want 13", pos, err)
	}
	if _, err := io.ReadFull(f, buf[:1]); err != nil || buf[0] != '\n' {
		failf("seek", "read at end-1: %q, %v", buf[:1], err)
	}
	if _, err := f.Seek(100, io.SeekStart); err != nil {
		failf("seek", "seek past the end: %v", err)
	}
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		failf("seek", "read past the end: %d bytes, %v; want EOF", n, err)
	}
	if _, err := f.Seek(-100, io.SeekStart); err == nil {
		failf("seek", "seek to a negative offset succeeded")
	}
	ok("seek")
}

func checkPreadPwrite(name string) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	must("pread-pwrite", err)
	defer f.Close()
	if n, err := f.WriteAt([]byte("DONJON"), 7); err != nil || n != 6 {
		failf("pread-pwrite", "pwrite: %d, %v", n, err)
	}
	buf := make([]byte, 6)
	if n, err := f.ReadAt(buf, 7); err != nil || n != 6 || string(buf) != "DONJON" {
		failf("pread-pwrite", "pread: %q, %d, %v", buf, n, err)
	}
	// Positional I/O must leave the file offset alone.
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		failf("pread-pwrite", "offset moved to %d, %v", pos, err)
	}
	expectContent("pread-pwrite", name, "hello, DONJON\n")
	ok("pread-pwrite")
}

func checkAppend(name string) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	must("append", err)
	writeAll("append", f, "more\n")
	must("append", f.Close())
	expectContent("append", name, "hello, DONJON\nmore\n")
	ok("append")
}

func checkTruncate(name string) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	must("truncate", err)
	defer f.Close()
	must("truncate", f.Truncate(5))
	expectContent("truncate", name, "hello")
	must("truncate", f.Truncate(10))
	expectContent("truncate", name, "hello\x00\x00\x00\x00\x00")
	st, err := f.Stat()
	if err != nil || st.Size() != 10 {
		failf("truncate", "fstat after extend: %v, %v", st, err)
	}
	ok("truncate")
}

// checkTwoFDs checks that two descriptors of one file see each other's
// changes at once: writes, a truncate and an append, with fstat sizes that
// agree.
func checkTwoFDs(w string) {
	const check = "two-fds"
	name := filepath.Join(w, "t.txt")
	f1, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	must(check, err)
	defer f1.Close()
	f2, err := os.OpenFile(name, os.O_RDWR, 0)
	must(check, err)
	defer f2.Close()

	writeAll(check, f1, "written by one\n")
	// A sequential read from the second descriptor's own offset.
	buf := make([]byte, 64)
	n, err := f2.Read(buf)
	if err != nil || string(buf[:n]) != "written by one\n" {
		failf(check, "read through the second descriptor: %q, %v", buf[:n], err)
	}
	sameSize(check, f1, f2, 15)

	writeAll(check, f2, "TWO")
	expectAt(check, "first", f1, "written by one\nTWO")
	sameSize(check, f1, f2, 18)

	must(check, f2.Truncate(7))
	expectAt(check, "first", f1, "written")
	sameSize(check, f1, f2, 7)

	// Appending goes to the end the other descriptor's truncate left.
	writeAll(check, f1, " twice")
	expectAt(check, "second", f2, "written twice")
	sameSize(check, f1, f2, 13)

	must(check, f1.Close())
	must(check, f2.Close())
	expectContent(check, name, "written twice")
	must(check, os.Remove(name))
	ok(check)
}

// expectAt reads f from offset 0 with pread, which leaves its offset alone.
func expectAt(check, which string, f *os.File, want string) {
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if (err != nil && err != io.EOF) || string(buf[:n]) != want {
		failf(check, "pread through the %s descriptor: %q, %v; want %q", which, buf[:n], err, want)
	}
}

func sameSize(check string, f1, f2 *os.File, want int64) {
	s1, err := f1.Stat()
	must(check, err)
	s2, err := f2.Stat()
	must(check, err)
	if s1.Size() != want || s2.Size() != want {
		failf(check, "fstat sizes %d and %d, want %d", s1.Size(), s2.Size(), want)
	}
}

func checkTimes(name string) {
	atime := time.Unix(1_000_000_000, 0)
	mtime := time.Unix(1_500_000_000, 123_456_000)
	must("set-times", os.Chtimes(name, atime, mtime))
	st, err := os.Stat(name)
	must("set-times", err)
	if !st.ModTime().Equal(mtime) {
		failf("set-times", "mtime %v, want %v", st.ModTime(), mtime)
	}
	ok("set-times")
}

func checkReaddir(w string, links bool) {
	d := filepath.Join(w, "d")
	must("readdir", os.Mkdir(d, 0o755))
	// Enough entries, with long names, that a listing needs more than one
	// fd_readdir call and the cookie is exercised.
	const count = 500
	var want []string
	for i := range count {
		name := fmt.Sprintf("entry-%04d-%s", i, "abcdefghijklmnopqrstuvwxyz0123456789")
		want = append(want, name)
		must("readdir", os.WriteFile(filepath.Join(d, name), nil, 0o644))
	}
	must("readdir", os.Mkdir(filepath.Join(d, "sub"), 0o755))
	want = append(want, "sub")
	if links {
		must("readdir", os.Symlink("sub", filepath.Join(d, "link")))
		want = append(want, "link")
	}
	slices.Sort(want)

	entries, err := os.ReadDir(d)
	must("readdir", err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
		switch e.Name() {
		case "sub":
			if !e.IsDir() {
				failf("readdir", "sub has type %v, want directory", e.Type())
			}
		case "link":
			if e.Type()&fs.ModeSymlink == 0 {
				failf("readdir", "link has type %v, want symlink", e.Type())
			}
		default:
			if !e.Type().IsRegular() {
				failf("readdir", "%s has type %v, want regular", e.Name(), e.Type())
			}
		}
	}
	if !slices.Equal(got, want) {
		failf("readdir", "listed %d entries, want %d (first difference near %q)", len(got), len(want), firstDiff(got, want))
	}
	ok("readdir")

	must("rmdir-empty", os.Remove(filepath.Join(d, "sub")))
	for _, name := range want {
		if name == "sub" {
			continue
		}
		must("readdir-cleanup", os.Remove(filepath.Join(d, name)))
	}
	must("readdir-cleanup", os.Remove(d))
	ok("rmdir-empty")
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i]
		}
	}
	if len(a) > len(b) {
		return a[len(b)]
	}
	if len(b) > len(a) {
		return b[len(a)]
	}
	return ""
}

// checkErrors checks that failures come back as the right errors.
func checkErrors(w, file string) {
	if _, err := os.Open(filepath.Join(w, "missing")); !errors.Is(err, fs.ErrNotExist) {
		failf("errors", "open missing file: %v, want not-exist", err)
	}
	if _, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
		failf("errors", "exclusive create of an existing file: %v, want exist", err)
	}
	if err := os.Mkdir(w, 0o755); !errors.Is(err, fs.ErrExist) {
		failf("errors", "mkdir of an existing directory: %v, want exist", err)
	}
	sub := filepath.Join(w, "full")
	must("errors", os.Mkdir(sub, 0o755))
	must("errors", os.WriteFile(filepath.Join(sub, "x"), nil, 0o644))
	if err := syscall.Rmdir(sub); !errors.Is(err, syscall.ENOTEMPTY) {
		failf("errors", "rmdir of a non-empty directory: %v, want ENOTEMPTY", err)
	}
	if err := syscall.Rmdir(file); !errors.Is(err, syscall.ENOTDIR) {
		failf("errors", "rmdir of a file: %v, want ENOTDIR", err)
	}
	if err := syscall.Unlink(sub); err == nil {
		failf("errors", "unlink of a directory succeeded")
	}
	if _, err := os.ReadDir(file); err == nil {
		failf("errors", "readdir of a file succeeded")
	}
	buf := make([]byte, 1)
	if dir, err := os.Open(sub); err != nil {
		failf("errors", "open directory: %v", err)
	} else {
		if _, err := dir.Read(buf); err == nil {
			failf("errors", "read of a directory succeeded")
		}
		dir.Close()
	}
	must("errors", os.Remove(filepath.Join(sub, "x")))
	must("errors", os.Remove(sub))
	if !bytes.Equal(buf, []byte{0}) {
		failf("errors", "failed read wrote into the buffer")
	}
	ok("errors")
}
