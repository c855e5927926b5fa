package tee

import (
	"context"
	"errors"
)

// ReportDataSize is the number of caller-chosen bytes every backend binds
// into its evidence (SEV-SNP REPORT_DATA, TDX REPORTDATA).
const ReportDataSize = 64

// Format names how Evidence.Report is encoded, so verifiers pick the parser.
type Format string

// Evidence formats.
const (
	// FormatNil is the nil backend's "evidence": no hardware signed
	// anything, Report is empty, and only ReportData is meaningful.
	FormatNil Format = "nil"
	// FormatSNP is a raw 1184-byte AMD SEV-SNP ATTESTATION_REPORT.
	FormatSNP Format = "snp"
	// FormatTDX is a raw Intel TDX quote.
	FormatTDX Format = "tdx"
)

// Evidence is what a backend produced for one request. Nothing in it is
// verified: it comes from the firmware through the untrusted host kernel
// and hypervisor, and a verifier (package attest) decides what it proves.
type Evidence struct {
	Format Format
	// ReportData is the 64 bytes the caller asked to bind.
	ReportData [ReportDataSize]byte
	// Report is the raw report or quote; empty for FormatNil.
	Report []byte
	// CertTable is the SNP certificate table (VCEK or VLEK and their
	// issuers) the host attached to an extended report, when it attached
	// one. Empty otherwise: the verifier then needs the VCEK from a cache
	// or from AMD's KDS.
	CertTable CertTable
}

// Platform is a backend ready to serve a keep: it binds report data into
// hardware evidence and derives sealing keys. Implementations are safe for
// concurrent use.
type Platform interface {
	// Name is the backend this platform implements.
	Name() Backend
	// Evidence asks the TEE for evidence binding reportData.
	Evidence(ctx context.Context, reportData [ReportDataSize]byte) (*Evidence, error)
	// SealingKey returns a 32-byte key for purpose that only this
	// backend's protected workload can obtain again. Different purposes
	// give unrelated keys.
	SealingKey(ctx context.Context, purpose string) ([]byte, error)
}

// SealingKeySize is the length of every sealing key.
const SealingKeySize = 32

// Errors a Platform's methods wrap, so callers can react without parsing
// messages.
var (
	// ErrUnavailable: the kernel interface the backend needs is missing or
	// unusable on this machine.
	ErrUnavailable = errors.New("tee backend unavailable")
	// ErrBusy: the interface is in use; retrying later may succeed.
	ErrBusy = errors.New("tee interface busy")
	// ErrInterference: another process changed the request while it was
	// in flight, so its answer cannot be trusted to be ours; retry.
	ErrInterference = errors.New("tee request changed by another writer")
	// ErrBadResponse: the interface answered with something that is not
	// what was asked for (wrong size, wrong provider, other report data).
	ErrBadResponse = errors.New("tee returned an unexpected response")
	// ErrNoSealingKey: the backend cannot derive a sealing key as
	// configured.
	ErrNoSealingKey = errors.New("no sealing key")
	// ErrNotImplemented: donjon knows the backend but cannot run it yet.
	ErrNotImplemented = errors.New("tee backend not implemented")
)
