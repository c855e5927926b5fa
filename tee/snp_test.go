package tee

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtest "github.com/google/go-sev-guest/testing"

	attestsnp "donjon.dev/attest/snp"
)

// The fake chain's certificates start here; verification happens a day later.
var (
	fakeChainCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fakeVerifyAt     = fakeChainCreated.Add(24 * time.Hour)
)

// fakeSNP is a configfs-tsm report subsystem that answers like the sev_guest
// provider: the outblob is a version 3 Milan report carrying the written
// inblob as REPORT_DATA, signed with go-sev-guest's test-only VCEK, and the
// auxblob is the test chain's certificate table.
type fakeSNP struct {
	signer *sevtest.AmdSigner
	tsm    *faketsm.ReportSubsystem
	client *faketsm.Client

	mu sync.Mutex
	// Knobs for failure tests; the zero values answer like hardware.
	provider       string
	outblob        func(report []byte) []byte
	auxblob        []byte
	bumpGeneration bool
	// writes records every attribute written, in order.
	writes []string
}

func newFakeSNP(t *testing.T) *fakeSNP {
	t.Helper()
	product := abi.DefaultSevProduct()
	signer, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(product), fakeChainCreated)
	if err != nil {
		t.Fatalf("test chain: %v", err)
	}
	table, err := signer.CertTableBytes()
	if err != nil {
		t.Fatalf("test certificate table: %v", err)
	}
	f := &fakeSNP{signer: signer, provider: "sev_guest\n", auxblob: table}
	f.tsm = faketsm.Report611(0)
	check := f.tsm.CheckInAttr
	f.tsm.CheckInAttr = func(e *faketsm.ReportEntry, attr string, contents []byte) error {
		f.mu.Lock()
		f.writes = append(f.writes, attr+"="+string(contents))
		f.mu.Unlock()
		return check(e, attr, contents)
	}
	f.tsm.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch attr {
		case "provider":
			return []byte(f.provider), nil
		case "auxblob":
			if f.bumpGeneration {
				// Another writer touched the entry between our write and read.
				e.WriteGeneration++
			}
			return bytes.Clone(f.auxblob), nil
		case "outblob":
			report, err := f.sign(e.InAttrs["inblob"].Value, product)
			if err != nil {
				return nil, err
			}
			if f.outblob != nil {
				report = f.outblob(report)
			}
			return report, nil
		}
		return nil, os.ErrNotExist
	}
	f.client = &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": f.tsm}}
	return f
}

// sign builds a report for reportData as the firmware would and signs it
// with the test VCEK.
func (f *fakeSNP) sign(reportData []byte, product *spb.SevProduct) ([]byte, error) {
	raw := sevtest.CreateRawReport(&sevtest.TestReportOptions{
		ReportData: reportData,
		Version:    abi.ReportVersion3,
		FMS:        abi.MaskedCpuid1EaxFromSevProduct(product),
	})
	report := raw[:abi.ReportSize]
	r, s, err := f.signer.Sign(abi.SignedComponent(report))
	if err != nil {
		return nil, err
	}
	if err := abi.SetSignature(r, s, report); err != nil {
		return nil, err
	}
	return report, nil
}

func (f *fakeSNP) root() attestsnp.Root {
	return attestsnp.Root{Product: attestsnp.Milan, ARK: f.signer.Ark, ASK: f.signer.Ask}
}

func (f *fakeSNP) entries() int {
	return len(f.tsm.Entries)
}

func testReportData(seed byte) [ReportDataSize]byte {
	var d [ReportDataSize]byte
	for i := range d {
		d[i] = seed + byte(i)*7
	}
	return d
}

func TestSNPEvidenceVerifiesWithTestChain(t *testing.T) {
	fake := newFakeSNP(t)
	p := NewSNP(fake.client)
	if p.Name() != SNP {
		t.Fatalf("Name() = %q, want %q", p.Name(), SNP)
	}
	want := testReportData(0x42)
	ev, err := p.Evidence(context.Background(), want)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if ev.Format != FormatSNP || ev.ReportData != want || len(ev.Report) != abi.ReportSize {
		t.Fatalf("evidence format %q, %d-byte report, report data %x", ev.Format, len(ev.Report), ev.ReportData)
	}
	if !bytes.Equal(ev.CertTable.VCEK(), fake.signer.Vcek.Raw) {
		t.Fatal("certificate table VCEK is not the test chain's VCEK")
	}
	if !bytes.Equal(ev.CertTable.VLEK(), fake.signer.Vlek.Raw) || !bytes.Equal(ev.CertTable.Get(GUIDASK), fake.signer.Ask.Raw) ||
		!bytes.Equal(ev.CertTable.Get(GUIDARK), fake.signer.Ark.Raw) {
		t.Fatal("certificate table VLEK, ASK or ARK differ from the test chain")
	}

	claims, err := attestsnp.Verify(ev.Report, ev.CertTable.VCEK(), attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.root()}})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.ReportData != want {
		t.Fatalf("verified report data %x, want %x", claims.ReportData, want)
	}
	if claims.Product != attestsnp.Milan {
		t.Fatalf("verified product %q, want Milan", claims.Product)
	}

	// The request went out as the hardware needs it: the report data as
	// inblob, privilege level 0, and the entry was removed afterwards.
	wantWrites := []string{"inblob=" + string(want[:]), "privlevel=0"}
	if strings.Join(fake.writes, "\x00") != strings.Join(wantWrites, "\x00") {
		t.Fatalf("writes %q, want %q", fake.writes, wantWrites)
	}
	if n := fake.entries(); n != 0 {
		t.Fatalf("%d report entries left in configfs, want 0", n)
	}
}

func TestSNPEvidenceRejectedByRealRootsAndTampering(t *testing.T) {
	fake := newFakeSNP(t)
	ev, err := NewSNP(fake.client).Evidence(context.Background(), testReportData(1))
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	// The test chain is not AMD's: the default roots must refuse it.
	if _, err := attestsnp.Verify(ev.Report, ev.CertTable.VCEK(), attestsnp.Options{Now: fakeVerifyAt}); !errors.Is(err, attestsnp.ErrUntrustedChain) {
		t.Fatalf("Verify with AMD's roots: %v, want ErrUntrustedChain", err)
	}
	// The signature covers the report data.
	tampered := bytes.Clone(ev.Report)
	tampered[snpReportDataOffset] ^= 1
	if _, err := attestsnp.Verify(tampered, ev.CertTable.VCEK(), attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.root()}}); !errors.Is(err, attestsnp.ErrBadSignature) {
		t.Fatalf("Verify of tampered report data: %v, want ErrBadSignature", err)
	}
}

func TestSNPEvidenceDistinctRequests(t *testing.T) {
	fake := newFakeSNP(t)
	p := NewSNP(fake.client)
	opts := attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.root()}}
	for _, seed := range []byte{0, 9, 200} {
		want := testReportData(seed)
		ev, err := p.Evidence(context.Background(), want)
		if err != nil {
			t.Fatalf("Evidence(%d): %v", seed, err)
		}
		claims, err := attestsnp.Verify(ev.Report, ev.CertTable.VCEK(), opts)
		if err != nil {
			t.Fatalf("Verify(%d): %v", seed, err)
		}
		if claims.ReportData != want {
			t.Fatalf("request %d: verified report data %x, want %x", seed, claims.ReportData, want)
		}
	}
}

func TestSNPEvidenceWithoutCertTable(t *testing.T) {
	fake := newFakeSNP(t)
	fake.auxblob = nil
	ev, err := NewSNP(fake.client).Evidence(context.Background(), testReportData(3))
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if len(ev.CertTable) != 0 {
		t.Fatalf("certificate table has %d entries, want none", len(ev.CertTable))
	}
	// The VCEK can come from elsewhere (cache, KDS): the report still verifies.
	claims, err := attestsnp.Verify(ev.Report, fake.signer.Vcek.Raw, attestsnp.Options{Now: fakeVerifyAt, Roots: []attestsnp.Root{fake.root()}})
	if err != nil || claims.ReportData != testReportData(3) {
		t.Fatalf("Verify: %v", err)
	}
}

// faultClient fails the first call of op on a path ending in suffix.
type faultClient struct {
	configfsi.Client
	op, suffix string
	err        error
}

func (c *faultClient) fail(op, name string) error {
	if c.op == op && strings.HasSuffix(name, c.suffix) {
		return c.err
	}
	return nil
}

func (c *faultClient) MkdirTemp(dir, pattern string) (string, error) {
	if err := c.fail("mkdir", dir); err != nil {
		return "", err
	}
	return c.Client.MkdirTemp(dir, pattern)
}

func (c *faultClient) ReadFile(name string) ([]byte, error) {
	if err := c.fail("read", name); err != nil {
		return nil, err
	}
	return c.Client.ReadFile(name)
}

func (c *faultClient) WriteFile(name string, contents []byte) error {
	if err := c.fail("write", name); err != nil {
		return err
	}
	return c.Client.WriteFile(name, contents)
}

func TestSNPEvidenceErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeSNP) configfsi.Client
		wantErr error  // nil: only the message is checked
		wantMsg string // must appear in the message
	}{
		{"interface missing", func(f *fakeSNP) configfsi.Client {
			return &faultClient{Client: f.client, op: "mkdir", suffix: "/tsm/report", err: fs.ErrNotExist}
		}, ErrUnavailable, "not found: run donjon in an SEV-SNP guest"},
		{"permission denied", func(f *fakeSNP) configfsi.Client {
			return &faultClient{Client: f.client, op: "mkdir", suffix: "/tsm/report", err: syscall.EACCES}
		}, ErrUnavailable, "permission denied: run donjon as root"},
		{"busy", func(f *fakeSNP) configfsi.Client {
			return &faultClient{Client: f.client, op: "write", suffix: "/inblob", err: syscall.EBUSY}
		}, ErrBusy, "another report request is in progress; retry"},
		{"generation mismatch", func(f *fakeSNP) configfsi.Client {
			f.bumpGeneration = true
			return f.client
		}, ErrInterference, "changed while it was read (generation 3, expected 2)"},
		{"firmware error", func(f *fakeSNP) configfsi.Client {
			return &faultClient{Client: f.client, op: "read", suffix: "/outblob", err: syscall.EIO}
		}, nil, "the SEV firmware refused the request"},
		{"privilege level refused", func(f *fakeSNP) configfsi.Client {
			return &faultClient{Client: f.client, op: "write", suffix: "/privlevel", err: syscall.EINVAL}
		}, ErrUnavailable, "privilege level 0 refused"},
		{"TDX provider", func(f *fakeSNP) configfsi.Client {
			f.provider = "tdx_guest\n"
			return f.client
		}, ErrBadResponse, `provider is "tdx_guest", not "sev_guest"`},
		{"short report", func(f *fakeSNP) configfsi.Client {
			f.outblob = func(r []byte) []byte { return r[:100] }
			return f.client
		}, ErrBadResponse, "report is 100 bytes, want 1184"},
		{"other report data", func(f *fakeSNP) configfsi.Client {
			f.outblob = func(r []byte) []byte { r[snpReportDataOffset+63] ^= 0xff; return r }
			return f.client
		}, ErrBadResponse, "other report data than requested"},
		{"malformed certificate table", func(f *fakeSNP) configfsi.Client {
			f.auxblob = f.auxblob[:30]
			return f.client
		}, ErrCertTable, "auxblob: malformed SEV-SNP certificate table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSNP(t)
			client := tt.setup(fake)
			ev, err := NewSNP(client).Evidence(context.Background(), testReportData(7))
			if err == nil {
				t.Fatalf("Evidence succeeded (%d-byte report), want an error", len(ev.Report))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not say %q", msg, tt.wantMsg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
			if n := fake.entries(); n != 0 {
				t.Errorf("%d report entries left in configfs after the error, want 0", n)
			}
		})
	}
}

func TestSNPEvidenceCanceled(t *testing.T) {
	fake := newFakeSNP(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewSNP(fake.client).Evidence(ctx, testReportData(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Evidence with a canceled context: %v, want context.Canceled", err)
	}
	if len(fake.writes) != 0 {
		t.Fatalf("canceled request still wrote %q", fake.writes)
	}
}

func TestSNPSealingKeyUnavailable(t *testing.T) {
	_, err := NewSNP(newFakeSNP(t).client).SealingKey(context.Background(), "files")
	if !errors.Is(err, ErrNoSealingKey) || !strings.Contains(err.Error(), "not available through configfs-tsm") ||
		!strings.Contains(err.Error(), "/dev/sev-guest") {
		t.Fatalf("SealingKey: %v, want ErrNoSealingKey naming configfs-tsm and /dev/sev-guest", err)
	}
}

var _ Platform = (*SNPPlatform)(nil)

// TestOpenSNPOnThisMachine checks OpenSNP against the machine it runs on:
// without configfs-tsm it must fail with one clear line; with it, succeed.
func TestOpenSNPOnThisMachine(t *testing.T) {
	_, statErr := os.Stat(pathTSMReport)
	p, err := OpenSNP()
	if statErr != nil {
		if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), snpTSMHint) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("OpenSNP without %s: %v, want one ErrUnavailable line with the hint", pathTSMReport, err)
		}
		return
	}
	if err != nil || p.Name() != SNP {
		t.Fatalf("OpenSNP with %s present: %v", pathTSMReport, err)
	}
}
