// Package testguest builds the WebAssembly guest programs that donjon's
// tests, examples and benchmarks run, on demand and cached.
//
// A guest is named by where its source lives:
//
//	"go", "go/compute"          Go packages under testdata/guests/go
//	"c/guest", "c/compute"      C files testdata/guests/c/NAME.c
//	"rust/guest"                Rust files testdata/guests/rust/NAME.rs
//	"examples/hello-c"          an example app: a Go package, main.c or main.rs
//
// Builds land in a cache directory, named by a hash of the sources, the
// compiler's version and the flags, so repeated test runs and test binaries
// of different packages running in parallel share them. Each build is
// written to a temporary file and renamed into place, so a reader never
// sees half a module.
//
// Guests use only their language's standard library: the hash covers a
// guest's own files (and go.mod for Go), nothing it might import.
package testguest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CacheEnv names the environment variable that overrides the cache
// directory used by Build and BuildNative.
const CacheEnv = "DONJON_GUEST_CACHE"

// Build returns the path of the compiled .wasm for the named guest,
// building it if the cache does not hold it yet. A missing toolchain fails
// the test (it does not skip it) with the Debian package to install.
func Build(t testing.TB, name string) string {
	t.Helper()
	return buildForTest(t, name, targetWasm)
}

// BuildNative returns the path of a native (host) executable built from the
// same source as the named guest: the baseline for the compute benchmarks.
// Only guests written to build natively support it ("go", "go/compute",
// "c/guest", "c/compute").
func BuildNative(t testing.TB, name string) string {
	t.Helper()
	return buildForTest(t, name, targetNative)
}

func buildForTest(t testing.TB, name string, tgt target) string {
	t.Helper()
	dir, err := CacheDir()
	if err != nil {
		t.Fatalf("testguest: %v", err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testguest: %v", err)
	}
	path, err := build(t.Context(), root, name, dir, tgt)
	if err != nil {
		t.Fatalf("testguest: %v", err)
	}
	return path
}

// BuildTo builds the named guest to WebAssembly into the cache directory
// dir (created if needed) and returns the module's path. It is Build for
// programs that are not tests, such as the benchmark driver.
func BuildTo(ctx context.Context, name, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return build(ctx, root, name, dir, targetWasm)
}

// BuildNativeTo is BuildNative for programs that are not tests.
func BuildNativeTo(ctx context.Context, name, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return build(ctx, root, name, dir, targetNative)
}

// Names lists every guest in the repository, sorted by kind then name.
func Names() ([]string, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	return listGuests(root)
}

// CacheDir is where Build and BuildNative keep their results: $DONJON_GUEST_CACHE
// if set, else donjon/testguests under the user's cache directory, else
// under the system's temporary directory.
func CacheDir() (string, error) {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	if base, err := os.UserCacheDir(); err == nil {
		return filepath.Join(base, "donjon", "testguests"), nil
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("donjon-testguests-%d", os.Getuid())), nil
}

// moduleRoot finds the root of the donjon.dev module: from this source
// file's location when it is known (go test, go run), else upwards from the
// working directory.
func moduleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if isModuleRoot(root) {
			return filepath.Clean(root), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the donjon source tree: %w", err)
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the donjon source tree: no go.mod of module donjon.dev above the working directory; run from inside the repository")
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "module donjon.dev" {
			return true
		}
	}
	return false
}
