// Package testevidence finds the real attestation evidence captured on real
// hardware (shared/testdata/evidence, beside the repository) for tests. Its
// absence fails the test: those tests are the proof that the verifiers work
// on bytes no one here wrote.
package testevidence

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns shared/testdata/evidence, found by walking up from the test's
// working directory.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "testdata", "evidence")
		if st, err := os.Stat(candidate); err == nil && st.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("shared/testdata/evidence not found above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of a sample (e.g. "snp/milan-report.bin") and fails
// the test if it is missing.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(Dir(tb), filepath.FromSlash(name))
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("evidence sample: %v", err)
	}
	return p
}

// Read returns a sample's bytes.
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
