// Command compute is the Go half of donjon's compute benchmark guests. The
// same source builds for wasip1 and natively, and computes exactly what
// ../../c/compute.c computes, so the outputs of the two languages and of
// the native and wasm builds can be compared byte for byte.
//
//	compute sha256 MB   SHA-256 of MB MiB of generated data, as hex
//	compute sieve N     the number of primes below N
//	compute matmul N    the sum of all entries of A*B for N x N matrices
//
// Nothing here uses the standard library's optimised code (crypto/sha256 has
// assembly on amd64 only), so native and wasm run the same algorithm.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
)

const usage = "usage: compute sha256 MB | sieve N | matmul N"

func main() {
	if len(os.Args) != 3 {
		fail(usage)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 0 {
		fail("not a non-negative integer: " + os.Args[2])
	}
	switch os.Args[1] {
	case "sha256":
		fmt.Printf("%x\n", sha256Generated(n))
	case "sieve":
		fmt.Println(sieve(n))
	case "matmul":
		fmt.Println(matmul(n))
	default:
		fail(usage)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(64)
}

// sha256Generated hashes mb MiB of the xorshift64 stream that starts at
// 0x9E3779B97F4A7C15, each 64-bit word stored little-endian.
func sha256Generated(mb int) [32]byte {
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	x := uint64(0x9E3779B97F4A7C15)
	var h sha256State
	h.init()
	for range mb {
		for i := 0; i < chunk; i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(buf[i:], x)
		}
		h.write(buf)
	}
	return h.sum()
}

// sieve counts the primes below n with the sieve of Eratosthenes.
func sieve(n int) int {
	if n < 3 {
		return 0
	}
	composite := make([]bool, n)
	count := 0
	for i := 2; i < n; i++ {
		if composite[i] {
			continue
		}
		count++
		for j := i * i; j < n; j += i {
			composite[j] = true
		}
	}
	return count
}

// matmul multiplies two n x n matrices of small whole numbers, so every sum
// is exact in float64 and the result does not depend on rounding, and
// returns the sum of the product's entries.
func matmul(n int) int64 {
	a := make([]float64, n*n)
	b := make([]float64, n*n)
	c := make([]float64, n*n)
	for i := range n {
		for j := range n {
			a[i*n+j] = float64((i + j) % 10)
			b[i*n+j] = float64((2*i + j) % 7)
		}
	}
	for i := range n {
		for k := range n {
			aik := a[i*n+k]
			row := b[k*n : k*n+n]
			out := c[i*n : i*n+n]
			for j := range out {
				out[j] += aik * row[j]
			}
		}
	}
	var sum float64
	for _, v := range c {
		sum += v
	}
	return int64(sum)
}
