package testguest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// target is what a build produces.
type target int

const (
	targetWasm target = iota + 1
	targetNative
)

var (
	wasmMagic = []byte("\x00asm\x01\x00\x00\x00")
	elfMagic  = []byte("\x7fELF")
)

// cacheVersion changes when the layout or the meaning of a cache entry
// does, so old entries are not reused.
const cacheVersion = "donjon-testguest-1"

// build resolves name under root and returns the cached result for it in
// dir, compiling it first if needed.
func build(ctx context.Context, root, name, dir string, tgt target) (string, error) {
	src, err := resolve(root, name)
	if err != nil {
		return "", err
	}
	tc, err := toolchainFor(ctx, src.lang, tgt)
	if err != nil {
		return "", fmt.Errorf("build guest %s: %w", name, err)
	}
	key, err := cacheKey(root, src, tc, tgt)
	if err != nil {
		return "", fmt.Errorf("build guest %s: %w", name, err)
	}
	suffix := ".wasm"
	if tgt == targetNative {
		suffix = ".native"
	}
	out := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+"-"+key+suffix)
	if hasMagic(out, tgt) {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build guest %s: create cache directory: %w", name, err)
	}
	// Compile next to the final name, then rename: readers in other
	// processes see either nothing or a whole file.
	tmp, err := os.CreateTemp(dir, ".build-*"+suffix)
	if err != nil {
		return "", fmt.Errorf("build guest %s: %w", name, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // harmless after the rename

	if err := tc.compile(ctx, root, src, tmpName); err != nil {
		return "", fmt.Errorf("build guest %s: %w", name, err)
	}
	if !hasMagic(tmpName, tgt) {
		return "", fmt.Errorf("build guest %s: the compiler wrote %s, which is not a %s", name, tmpName, tgt.describe())
	}
	if err := os.Chmod(tmpName, 0o755); err != nil {
		return "", fmt.Errorf("build guest %s: %w", name, err)
	}
	if err := os.Rename(tmpName, out); err != nil {
		return "", fmt.Errorf("build guest %s: %w", name, err)
	}
	return out, nil
}

func (t target) describe() string {
	if t == targetNative {
		return "native executable"
	}
	return "WebAssembly module"
}

// hasMagic reports whether path exists and starts as the target's format does.
func hasMagic(path string, tgt target) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	want := wasmMagic
	if tgt == targetNative {
		want = elfMagic
		if runtime.GOOS != "linux" {
			// Other hosts have other formats; existence is all we check.
			return true
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(f, got); err != nil {
		return false
	}
	return bytes.Equal(got, want)
}

// cacheKey hashes everything that decides the output: the cache version,
// the target, the toolchain's identity and flags, and each input file's
// name and content.
func cacheKey(root string, src source, tc *toolchain, tgt target) (string, error) {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(cacheVersion)
	field(fmt.Sprint(tgt))
	field(src.lang.String())
	field(tc.identity)
	field(strings.Join(tc.flags, "\x00"))
	for _, f := range src.files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", fmt.Errorf("read source: %w", err)
		}
		field(f)
		field(string(data))
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}
