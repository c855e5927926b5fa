//go:build linux

package sealfs

import (
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/hostfs"
	"donjon.dev/wasi/vfs"
)

// BenchmarkIO compares 4 KiB reads and writes, sequential and random, in a
// 16 MiB file of a sealed directory and of a plain host directory (package
// hostfs), through the vfs interfaces the guest's calls go through.
func BenchmarkIO(b *testing.B) {
	const fileSize = 16 << 20
	const op = 4096
	for _, kind := range []string{"plain", "sealed"} {
		var d vfs.Dir
		if kind == "plain" {
			hd, err := hostfs.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			d = hd
		} else {
			sd, err := Open(b.TempDir(), testKey(1), Options{})
			if err != nil {
				b.Fatal(err)
			}
			d = sd
		}
		n, err := d.Open("f", vfs.OpenRead|vfs.OpenWrite|vfs.OpenCreate)
		if err != nil {
			b.Fatal(err)
		}
		f := n.(vfs.File)
		chunk := pattern(1, 0, 1<<20)
		for off := int64(0); off < fileSize; off += int64(len(chunk)) {
			if _, err := f.Pwritev([][]byte{chunk}, off); err != nil {
				b.Fatal(err)
			}
		}
		buf := make([]byte, op)
		rng := rand.New(rand.NewPCG(1, 1))
		for _, c := range []struct {
			name string
			run  func(i int) error
		}{
			{"seqread", func(i int) error {
				_, err := f.Preadv([][]byte{buf}, int64(i*op)%fileSize)
				return err
			}},
			{"randread", func(i int) error {
				_, err := f.Preadv([][]byte{buf}, int64(rng.IntN(fileSize/op))*op)
				return err
			}},
			{"seqwrite", func(i int) error {
				_, err := f.Pwritev([][]byte{buf}, int64(i*op)%fileSize)
				return err
			}},
			{"randwrite", func(i int) error {
				_, err := f.Pwritev([][]byte{buf}, int64(rng.IntN(fileSize/op))*op)
				return err
			}},
			{"append100", func(i int) error {
				_, err := f.Pwritev([][]byte{buf[:100]}, fileSize+int64(i%1000)*100)
				return err
			}},
		} {
			b.Run(kind+"/"+c.name, func(b *testing.B) {
				b.SetBytes(op)
				for i := 0; b.Loop(); i++ {
					if err := c.run(i); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		f.Close()
		d.Close()
	}
}

// BenchmarkColdRandomIO is BenchmarkIO's random 4 KiB reads and writes in
// a 128 MiB file whose host pages were dropped from the page cache first
// (fsync, then POSIX_FADV_DONTNEED), as for a store larger than memory.
func BenchmarkColdRandomIO(b *testing.B) {
	const fileSize = 128 << 20
	const op = 4096
	for _, kind := range []string{"plain", "sealed"} {
		for _, write := range []bool{false, true} {
			name := kind + "/randread"
			if write {
				name = kind + "/randwrite"
			}
			b.Run(name, func(b *testing.B) {
				host := b.TempDir()
				var d vfs.Dir
				var err error
				if kind == "plain" {
					d, err = hostfs.Open(host)
				} else {
					d, err = Open(host, testKey(1), Options{})
				}
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				n, err := d.Open("f", vfs.OpenRead|vfs.OpenWrite|vfs.OpenCreate)
				if err != nil {
					b.Fatal(err)
				}
				f := n.(vfs.File)
				defer f.Close()
				chunk := pattern(1, 0, 1<<20)
				for off := int64(0); off < fileSize; off += int64(len(chunk)) {
					if _, err := f.Pwritev([][]byte{chunk}, off); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				dropPageCache(b, host)
				buf := make([]byte, op)
				rng := rand.New(rand.NewPCG(2, 2))
				b.SetBytes(op)
				b.ResetTimer()
				for b.Loop() {
					off := int64(rng.IntN(fileSize/op)) * op
					if write {
						_, err = f.Pwritev([][]byte{buf}, off)
					} else {
						_, err = f.Preadv([][]byte{buf}, off)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// dropPageCache evicts the clean pages of every file under dir.
func dropPageCache(b *testing.B, dir string) {
	b.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fdatasync(fd); err != nil {
			return err
		}
		return unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		b.Fatal(err)
	}
}
