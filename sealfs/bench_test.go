//go:build linux

package sealfs

import (
	"math/rand/v2"
	"testing"

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
