package snp

import (
	"donjon.dev/internal/testevidence"
	"testing"
	"time"
)

func readEvidence(tb testing.TB, name string) []byte { return testevidence.Read(tb, name) }

// Pinned clocks, from the evidence README.
var (
	milanReportTime = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) // VCEK valid 2022-09-24..2029-09-24
	enarxCSRTime    = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC) // CRLs valid until 2023-05-09
)
