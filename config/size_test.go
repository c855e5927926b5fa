package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"1", 1},
		{"1048576", 1 << 20},
		{"007", 7},
		{"512B", 512},
		{"64KiB", 64 << 10},
		{"256MiB", 256 << 20},
		{"1GiB", 1 << 30},
		{"2TiB", 2 << 40},
		{"256mib", 256 << 20},
		{"256MIB", 256 << 20},
		{"256Mi", 256 << 20},
		{"256 MiB", 256 << 20},
		{"  1GiB  ", 1 << 30},
		{"100MB", 100_000_000},
		{"1kB", 1000},
		{"3GB", 3_000_000_000},
		{"1TB", 1_000_000_000_000},
		{"1.5GiB", 3 << 29},
		{"0.5MiB", 512 << 10},
		{"1.25KiB", 1280},
		{"2.0B", 2},
		{"1.000001MB", 1_000_001},
		{"18446744073709551615", 1<<64 - 1},
		{"18446744073709551615B", 1<<64 - 1},
		{"17179869183GiB", 18446744072635809792},
		{"0.25KiB", 256},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "it is empty"},
		{"   ", "it is empty"},
		{"-1", "negative"},
		{"-1MiB", "negative"},
		{"+1MiB", "without '+'"},
		{"MiB", "does not start with a number"},
		{".5MiB", "does not start with a number"},
		{"1.MiB", "'.' must be followed by digits"},
		{"1,5MiB", `unknown unit ",5MiB"`},
		{"12XB", `unknown unit "XB"`},
		{"1e9", `unknown unit "e9"`},
		{"0x10", `unknown unit "x10"`},
		{"1 2", `unknown unit "2"`},
		{"256m", `unit "m" is ambiguous; write "MiB"`},
		{"1G", `unit "G" is ambiguous; write "GiB" (powers of 1024) or "GB"`},
		{"1.5B", "not a whole number of bytes"},
		{"0.1KiB", "not a whole number of bytes"},
		{"18446744073709551616", "too large"},
		{"16EiB", `unknown unit "EiB"`},
		{"16777216TiB", "too large"},
		{"17179869184GiB", "too large"},
		{"99999999999999999999999999GiB", "too large"},
		{strings.Repeat("9", 65), "too long"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSize(%q) error %q does not contain %q", tt.in, err, tt.want)
		}
		if !strings.Contains(err.Error(), "is not a size") {
			t.Errorf("ParseSize(%q) error %q does not say it is not a size", tt.in, err)
		}
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"64KiB", PageSize, ""},
		{"65537", 2 * PageSize, ""},
		{"100KB", 2 * PageSize, ""},
		{"256MiB", 256 << 20, ""},
		{"4GiB", MaxMemory, ""},
		{"4294967295", MaxMemory, ""},
		{"4294967297", 0, "more than 4GiB"},
		{"65535", 0, "less than one 64KiB wasm page"},
		{"0", 0, "less than one 64KiB wasm page"},
		{"12XB", 0, "is not a size"},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseMemory(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct{ in, want uint64 }{
		{PageSize, PageSize},
		{PageSize + 1, 2 * PageSize},
		{MaxMemory - 1, MaxMemory},
		{MaxMemory, MaxMemory},
	} {
		if got, err := MemoryLimit(tt.in); err != nil || got != tt.want {
			t.Errorf("MemoryLimit(%d) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in   uint64
		want string
	}{
		{0, "memory limit 0 bytes is less than one 64KiB wasm page"},
		{PageSize - 1, "memory limit 65535 bytes is less"},
		{MaxMemory + 1, "memory limit 4294967297 bytes is more than 4GiB"},
		{8 << 30, "memory limit 8GiB is more than 4GiB"},
		{1<<64 - 1, "more than 4GiB"},
	} {
		if _, err := MemoryLimit(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("MemoryLimit(%d) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}
