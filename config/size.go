package config

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// PageSize is the size of a WebAssembly page; memory limits are rounded up
// to whole pages.
const PageSize = 64 << 10

// MaxMemory is the most linear memory a 32-bit wasm guest can address.
const MaxMemory = 4 << 30

// sizeUnits maps a lower-cased unit to its multiplier. Binary units are the
// ones memory is counted in; decimal ones are accepted with their SI
// meaning rather than silently treated as binary.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "ki": 1 << 10,
	"mib": 1 << 20, "mi": 1 << 20,
	"gib": 1 << 30, "gi": 1 << 30,
	"tib": 1 << 40, "ti": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// maxSizeLen bounds the text ParseSize reads; no honest size is longer.
const maxSizeLen = 64

// ParseSize parses a byte count such as "256MiB", "1.5GiB", "64KiB", "100MB"
// or "1048576". Units are case-insensitive: B, KiB, MiB, GiB, TiB are powers
// of 1024; KB, MB, GB, TB powers of 1000; no unit means bytes. A fraction is
// allowed when the result is a whole number of bytes. A bare "k", "m", "g"
// or "t" is refused as ambiguous.
func ParseSize(s string) (uint64, error) {
	bad := func(why string) error {
		return fmt.Errorf(`%s is not a size: %s; use e.g. "256MiB"`, quote(s), why)
	}
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, bad("it is empty")
	case len(t) > maxSizeLen:
		return 0, bad("it is too long")
	case t[0] == '-':
		return 0, bad("it is negative")
	case t[0] == '+':
		return 0, bad("write it without '+'")
	}

	i := digitsEnd(t, 0)
	if i == 0 {
		return 0, bad("it does not start with a number")
	}
	digits := t[:i]
	fracLen := 0
	if i < len(t) && t[i] == '.' {
		j := digitsEnd(t, i+1)
		if j == i+1 {
			return 0, bad("a '.' must be followed by digits")
		}
		digits += t[i+1 : j]
		fracLen = j - i - 1
		i = j
	}

	unit := strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		switch strings.ToLower(unit) {
		case "k", "m", "g", "t":
			u := strings.ToUpper(unit)
			return 0, fmt.Errorf(`%s is not a size: unit %s is ambiguous; write "%siB" (powers of 1024) or "%sB" (powers of 1000)`,
				quote(s), quote(unit), u, u)
		}
		return 0, bad(fmt.Sprintf("unknown unit %s (units: B, KiB, MiB, GiB, TiB; KB, MB, GB, TB are powers of 1000)", quote(unit)))
	}

	// Exact arithmetic: digits * mult / 10^fracLen must be a whole number.
	n, _ := new(big.Int).SetString(digits, 10)
	n.Mul(n, big.NewInt(mult))
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(fracLen)), nil)
	q, r := new(big.Int).QuoRem(n, scale, new(big.Int))
	if r.Sign() != 0 {
		return 0, bad("it is not a whole number of bytes")
	}
	if !q.IsUint64() {
		return 0, bad("it is too large (the most is 16EiB)")
	}
	return q.Uint64(), nil
}

func digitsEnd(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// ParseMemory parses a memory limit such as "256MiB" (see ParseSize) and
// returns it in bytes, checked and rounded up to whole wasm pages, as
// MemoryLimit does.
func ParseMemory(s string) (uint64, error) {
	n, err := ParseSize(s)
	if err != nil {
		return 0, err
	}
	if msg := memoryProblem(n); msg != "" {
		return 0, fmt.Errorf("%s %s", quote(s), msg)
	}
	return roundPages(n), nil
}

// MemoryLimit checks a memory limit in bytes (at least one 64 KiB page, at
// most 4 GiB) and rounds it up to whole pages.
func MemoryLimit(n uint64) (uint64, error) {
	if msg := memoryProblem(n); msg != "" {
		return 0, errors.New("memory limit " + formatSize(n) + " " + msg)
	}
	return roundPages(n), nil
}

// memoryProblem says what is wrong with a memory limit, after its subject.
func memoryProblem(n uint64) string {
	switch {
	case n < PageSize:
		return `is less than one 64KiB wasm page: use e.g. "256MiB"`
	case n > MaxMemory:
		return `is more than 4GiB, the most a 32-bit wasm guest can address: use at most "4GiB"`
	}
	return ""
}

func roundPages(n uint64) uint64 {
	return (n + PageSize - 1) / PageSize * PageSize
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n uint64) string {
	switch {
	case n == 0:
		return "0 bytes"
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
