package tee

import (
	"bytes"
	"context"
	"crypto/x509"
	"donjon.dev/internal/testevidence"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	tdxabi "github.com/google/go-tdx-guest/abi"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"

	attesttdx "donjon.dev/attest/tdx"
	"donjon.dev/tee/teetest"
)

func newFakeTDX(t *testing.T, debug bool) *teetest.FakeTDX {
	t.Helper()
	fake, err := teetest.NewFakeTDX(teetest.TDXOptions{Created: fakeChainCreated, Debug: debug})
	if err != nil {
		t.Fatalf("NewFakeTDX: %v", err)
	}
	return fake
}

func tdxVerifyOptions(fake *teetest.FakeTDX) attesttdx.Options {
	return attesttdx.Options{Now: fakeVerifyAt, Roots: []*x509.Certificate{fake.Root}}
}

func TestTDXEvidenceVerifiesWithTestChain(t *testing.T) {
	fake := newFakeTDX(t, false)
	writes := &writeRecorder{Client: fake.Client}
	p := NewTDX(writes)
	if p.Name() != TDX {
		t.Fatalf("Name() = %q, want %q", p.Name(), TDX)
	}
	want := testReportData(0x17)
	ev, err := p.Evidence(context.Background(), want)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if ev.Format != FormatTDX || ev.ReportData != want || len(ev.CertTable) != 0 {
		t.Fatalf("evidence format %q, report data %x, %d certificate table entries; want tdx, the request, none", ev.Format, ev.ReportData, len(ev.CertTable))
	}
	claims, err := attesttdx.Verify(ev.Report, tdxVerifyOptions(fake))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !bytes.Equal(claims.ReportData, want[:]) {
		t.Fatalf("verified report data %x, want %x", claims.ReportData, want)
	}
	if claims.Debug {
		t.Fatal("quote claims a debug TD; the fake was not asked for one")
	}
	// TDX takes no privilege level: only the report data is written.
	if got := strings.Join(writes.attrs(), ","); got != "inblob" {
		t.Fatalf("attributes written: %s, want inblob only", got)
	}
}

func TestTDXEvidenceRejectedByIntelRootAndTampering(t *testing.T) {
	fake := newFakeTDX(t, false)
	ev, err := NewTDX(fake.Client).Evidence(context.Background(), testReportData(2))
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	// No roots means the real Intel SGX Root CA, which never signed the test chain.
	if _, err := attesttdx.Verify(ev.Report, attesttdx.Options{Now: fakeVerifyAt}); !errors.Is(err, attesttdx.ErrUntrustedChain) {
		t.Fatalf("Verify with Intel's root: %v, want ErrUntrustedChain", err)
	}
	tampered := bytes.Clone(ev.Report)
	tampered[tdxReportDataOffset+5] ^= 0x80
	if _, err := attesttdx.Verify(tampered, tdxVerifyOptions(fake)); !errors.Is(err, attesttdx.ErrBadSignature) {
		t.Fatalf("Verify of tampered report data: %v, want ErrBadSignature", err)
	}
}

func TestTDXEvidenceDebug(t *testing.T) {
	fake := newFakeTDX(t, true)
	ev, err := NewTDX(fake.Client).Evidence(context.Background(), testReportData(3))
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	claims, err := attesttdx.Verify(ev.Report, tdxVerifyOptions(fake))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !claims.Debug {
		t.Fatal("the fake was asked for a debug TD, the quote does not say so")
	}
	if err := attesttdx.Check(claims, attesttdx.Policy{}); !errors.Is(err, attesttdx.ErrPolicy) {
		t.Fatalf("default policy on a debug TD: %v, want a policy rejection", err)
	}
}

// Requests from many goroutines each get a quote for their own report
// data, and no report entry is left behind.
func TestTDXEvidenceConcurrent(t *testing.T) {
	fake := newFakeTDX(t, false)
	entries := &entryCounter{Client: fake.Client}
	p := NewTDX(entries)
	opts := tdxVerifyOptions(fake)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			want := testReportData(byte(40 + i))
			ev, err := p.Evidence(context.Background(), want)
			if err != nil {
				errs <- err
				return
			}
			claims, err := attesttdx.Verify(ev.Report, opts)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(claims.ReportData, want[:]) {
				errs <- errors.New("a quote carries another request's report data")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := entries.open(); n != 0 {
		t.Fatalf("%d report entries left in configfs, want 0", n)
	}
}

// The offset this backend checks is where go-tdx-guest's parser finds the
// report data in a real quote from a Sapphire Rapids TD.
func TestCheckTDXQuoteOnRealQuote(t *testing.T) {
	quote := testevidence.Read(t, "tdx/spr-e4-quote.dat")
	parsed, err := tdxabi.QuoteToProto(quote)
	if err != nil {
		t.Fatalf("go-tdx-guest cannot parse the sample: %v", err)
	}
	v4, ok := parsed.(*tdxpb.QuoteV4)
	if !ok {
		t.Fatalf("sample parsed as %T, want a quote v4", parsed)
	}
	var rd [ReportDataSize]byte
	if copy(rd[:], v4.GetTdQuoteBody().GetReportData()) != ReportDataSize {
		t.Fatal("sample has no 64-byte report data")
	}
	if err := checkTDXQuote(quote, rd); err != nil {
		t.Fatalf("checkTDXQuote(real quote, its report data): %v", err)
	}
	rd[0] ^= 1
	if err := checkTDXQuote(quote, rd); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("checkTDXQuote(real quote, other report data): %v, want ErrBadResponse", err)
	}
}

// writeRecorder records the attributes written through it.
type writeRecorder struct {
	configfsi.Client
	mu      sync.Mutex
	written []string
}

func (c *writeRecorder) WriteFile(name string, contents []byte) error {
	c.mu.Lock()
	c.written = append(c.written, path.Base(name))
	c.mu.Unlock()
	return c.Client.WriteFile(name, contents)
}

func (c *writeRecorder) attrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.written...)
}

// entryCounter counts the report entries created through it and not
// removed yet.
type entryCounter struct {
	configfsi.Client
	mu      sync.Mutex
	entries map[string]bool
}

func (c *entryCounter) MkdirTemp(dir, pattern string) (string, error) {
	name, err := c.Client.MkdirTemp(dir, pattern)
	if err == nil {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]bool{}
		}
		c.entries[name] = true
		c.mu.Unlock()
	}
	return name, err
}

func (c *entryCounter) RemoveAll(name string) error {
	err := c.Client.RemoveAll(name)
	if err == nil {
		c.mu.Lock()
		delete(c.entries, name)
		c.mu.Unlock()
	}
	return err
}

func (c *entryCounter) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// rewriteClient changes what reads of one attribute return, and can play
// another writer touching the entry between our write and our read.
type rewriteClient struct {
	configfsi.Client
	attr    string
	rewrite func([]byte) []byte
	// interfere rewrites the entry's inblob before attr is read.
	interfere bool
}

func (c *rewriteClient) ReadFile(name string) ([]byte, error) {
	if path.Base(name) != c.attr {
		return c.Client.ReadFile(name)
	}
	if c.interfere {
		if err := c.Client.WriteFile(path.Join(path.Dir(name), "inblob"), make([]byte, 64)); err != nil {
			return nil, err
		}
	}
	b, err := c.Client.ReadFile(name)
	if err != nil || c.rewrite == nil {
		return b, err
	}
	return c.rewrite(b), nil
}

func TestTDXEvidenceErrors(t *testing.T) {
	setVersion := func(v uint16) func([]byte) []byte {
		return func(q []byte) []byte { binary.LittleEndian.PutUint16(q[0:2], v); return q }
	}
	tests := []struct {
		name    string
		client  func(base configfsi.Client) configfsi.Client
		wantErr error  // nil: only the message is checked
		wantMsg string // must appear in the message
	}{
		{"interface missing", func(base configfsi.Client) configfsi.Client {
			return &faultClient{Client: base, op: "mkdir", suffix: "/tsm/report", err: fs.ErrNotExist}
		}, ErrUnavailable, "not found: run donjon in a TDX guest"},
		{"permission denied", func(base configfsi.Client) configfsi.Client {
			return &faultClient{Client: base, op: "mkdir", suffix: "/tsm/report", err: syscall.EACCES}
		}, ErrUnavailable, "permission denied: run donjon as root"},
		{"busy", func(base configfsi.Client) configfsi.Client {
			return &faultClient{Client: base, op: "write", suffix: "/inblob", err: syscall.EBUSY}
		}, ErrBusy, "another report request is in progress; retry"},
		{"no quote service", func(base configfsi.Client) configfsi.Client {
			return &faultClient{Client: base, op: "read", suffix: "/outblob", err: syscall.EIO}
		}, nil, "quote generation service (QGS)"},
		{"another writer", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "outblob", interfere: true}
		}, ErrInterference, "changed while it was read"},
		{"SEV provider", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "provider", rewrite: func([]byte) []byte { return []byte("sev_guest\n") }}
		}, ErrBadResponse, `provider is "sev_guest", not "tdx_guest": this is not a TDX guest`},
		{"short quote", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "outblob", rewrite: func(q []byte) []byte { return q[:tdxMinQuoteSize-1] }}
		}, ErrBadResponse, "quote is 635 bytes, want 636 to 65536"},
		{"huge quote", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "outblob", rewrite: func(q []byte) []byte { return append(q, make([]byte, tdxMaxQuoteSize)...) }}
		}, ErrBadResponse, "want 636 to 65536"},
		{"quote version 5", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "outblob", rewrite: setVersion(5)}
		}, ErrBadResponse, "quote version 5, donjon supports version 4"},
		{"SGX quote", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "outblob", rewrite: func(q []byte) []byte { binary.LittleEndian.PutUint32(q[4:8], 0); return q }}
		}, ErrBadResponse, "TEE type 0x0, want 0x81"},
		{"other report data", func(base configfsi.Client) configfsi.Client {
			return &rewriteClient{Client: base, attr: "outblob", rewrite: func(q []byte) []byte { q[tdxReportDataOffset+63] ^= 1; return q }}
		}, ErrBadResponse, "other report data than requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeTDX(t, false)
			entries := &entryCounter{Client: fake.Client}
			ev, err := NewTDX(tt.client(entries)).Evidence(context.Background(), testReportData(9))
			if err == nil {
				t.Fatalf("Evidence succeeded (%d-byte quote), want an error", len(ev.Report))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) || !strings.Contains(msg, "tdx evidence") {
				t.Errorf("error %q does not say %q (and tdx evidence)", msg, tt.wantMsg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
			if n := entries.open(); n != 0 {
				t.Errorf("%d report entries left in configfs after the error, want 0", n)
			}
		})
	}
}

func TestTDXEvidenceCanceled(t *testing.T) {
	fake := newFakeTDX(t, false)
	writes := &writeRecorder{Client: fake.Client}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewTDX(writes).Evidence(ctx, testReportData(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Evidence with a canceled context: %v, want context.Canceled", err)
	}
	if w := writes.attrs(); len(w) != 0 {
		t.Fatalf("canceled request still wrote %q", w)
	}
}

func TestTDXSealingKeyIsTheStewardsJob(t *testing.T) {
	key, err := NewTDX(newFakeTDX(t, false).Client).SealingKey(context.Background(), "files")
	if key != nil || !errors.Is(err, ErrNoSealingKey) || !strings.Contains(err.Error(), "configure a steward") {
		t.Fatalf("SealingKey: %x, %v; want ErrNoSealingKey naming the steward", key, err)
	}
}

var _ Platform = (*TDXPlatform)(nil)

// TestOpenTDXOnThisMachine: without configfs-tsm OpenTDX fails with one
// clear line; with it, it succeeds.
func TestOpenTDXOnThisMachine(t *testing.T) {
	_, statErr := os.Stat(pathTSMReport)
	p, err := OpenTDX()
	if statErr != nil {
		if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tdxTSMHint) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("OpenTDX without %s: %v, want one ErrUnavailable line with the hint", pathTSMReport, err)
		}
		return
	}
	if err != nil || p.Name() != TDX {
		t.Fatalf("OpenTDX with %s present: %v", pathTSMReport, err)
	}
}

func FuzzCheckTDXQuote(f *testing.F) {
	fake, err := teetest.NewFakeTDX(teetest.TDXOptions{})
	if err != nil {
		f.Fatal(err)
	}
	rd := testReportData(1)
	ev, err := NewTDX(fake.Client).Evidence(context.Background(), rd)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ev.Report)
	f.Add(ev.Report[:tdxMinQuoteSize])
	f.Add(ev.Report[:tdxMinQuoteSize-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, quote []byte) {
		err := checkTDXQuote(quote, rd)
		if err == nil {
			if len(quote) < tdxMinQuoteSize || len(quote) > tdxMaxQuoteSize ||
				!bytes.Equal(quote[tdxReportDataOffset:tdxReportDataOffset+ReportDataSize], rd[:]) {
				t.Fatalf("accepted a %d-byte quote that breaks the bounds or carries other report data", len(quote))
			}
			return
		}
		if !errors.Is(err, ErrBadResponse) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("rejection %q is not one ErrBadResponse line", err)
		}
	})
}
