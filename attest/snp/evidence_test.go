package snp

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// evidenceDir finds shared/testdata/evidence by walking up from the working
// directory: the captured evidence lives beside the repository, not in it.
func evidenceDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "testdata", "evidence")
		if st, err := os.Stat(candidate); err == nil && st.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("real attestation evidence not found: no shared/testdata/evidence in any parent of the working directory; check out the shared test data beside the repository")
		}
		dir = parent
	}
}

func readEvidence(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(evidenceDir(tb), filepath.FromSlash(name)))
	if err != nil {
		tb.Fatalf("reading evidence %s: %v", name, err)
	}
	return b
}

// Pinned clocks, from the evidence README.
var (
	milanReportTime = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) // VCEK valid 2022-09-24..2029-09-24
	enarxCSRTime    = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC) // CRLs valid until 2023-05-09
)
