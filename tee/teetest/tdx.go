package teetest

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"

	"donjon.dev/attest/tdx/tdxtest"
)

// TDXOptions shape the fake TDX guest's quotes.
type TDXOptions struct {
	// Created is when the test PCK chain's certificates start to be valid
	// (zero: tdxtest's default, 2020-01-01). They stay valid for 30 years.
	Created time.Time
	// Debug sets TDATTRIBUTES.DEBUG in every quote.
	Debug bool
}

// FakeTDX is a configfs-tsm report subsystem answering like the tdx_guest
// provider: the outblob is a TDX quote version 4 carrying the written
// inblob as REPORTDATA, signed by tdxtest's throw-away PCK chain.
type FakeTDX struct {
	// Client is what tee.NewTDX takes.
	Client configfsi.Client
	// Root is the test root CA a verifier must trust (attest/tdx
	// Options.Roots) to accept the fake's quotes.
	Root *x509.Certificate
	// Signer is the test chain itself, for tests that need its CRLs.
	Signer *tdxtest.Signer
}

// testChainLifetime is how long the fake TDX chain stays valid after
// TDXOptions.Created.
const testChainLifetime = 30

// NewFakeTDX returns a fake TDX guest device.
func NewFakeTDX(opts TDXOptions) (*FakeTDX, error) {
	cfg := tdxtest.Config{NotBefore: opts.Created}
	if !opts.Created.IsZero() {
		cfg.NotAfter = opts.Created.AddDate(testChainLifetime, 0, 0)
	}
	signer, err := tdxtest.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("teetest: tdx test chain: %w", err)
	}
	var attributes [8]byte
	if opts.Debug {
		attributes[0] |= tdxtest.AttributeDebug
	}
	tsm := faketsm.Report611(0)
	tsm.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		switch attr {
		case "provider":
			return []byte("tdx_guest\n"), nil
		case "outblob":
			q := tdxtest.Quote{TDAttributes: attributes}
			// The kernel takes up to 64 bytes and zero-pads, as here.
			copy(q.ReportData[:], e.InAttrs["inblob"].Value)
			return signer.Quote(q)
		}
		// tdx_guest has no auxblob or other outputs.
		return nil, os.ErrNotExist
	}
	return &FakeTDX{
		Client: &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": tsm}},
		Root:   signer.Root,
		Signer: signer,
	}, nil
}
