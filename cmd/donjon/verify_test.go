package main

// End-to-end tests of `donjon verify` on real evidence captured on real
// hardware (../shared/testdata/evidence), through the built binary.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"donjon.dev/internal/testevidence"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	snpTime   = "2024-06-01T00:00:00Z"
	tdxTime   = "2023-07-01T01:00:00Z"
	enarxTime = "2023-03-01T00:00:00Z"
)

func evidence(t *testing.T, name string) string { return testevidence.Path(t, name) }

func readEvidence(t *testing.T, name string) []byte { return testevidence.Read(t, name) }

// writeTemp writes b to a fresh file and returns its path.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantFailure checks the contract for a refusal: the given exit code, and
// exactly one line on stderr that says donjon verify failed, contains every
// fragment, and is no crash.
func wantFailure(t *testing.T, r result, code int, fragments ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%v", r.code, code, r)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Fatalf("stderr is not exactly one line: %q", r.stderr)
	}
	if !strings.HasPrefix(line, "donjon: verify") {
		t.Errorf("stderr %q does not start with \"donjon: verify\"", line)
	}
	if strings.Contains(line, "panic") || strings.Contains(line, "goroutine") {
		t.Errorf("stderr looks like a crash: %q", line)
	}
	for _, f := range fragments {
		if !strings.Contains(line, f) {
			t.Errorf("stderr %q does not mention %q", line, f)
		}
	}
}

func wantRow(t *testing.T, out, name, value string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+` + regexp.QuoteMeta(value) + `$`)
	if !re.MatchString(out) {
		t.Errorf("output has no row %q = %q:\n%s", name, value, out)
	}
}

func TestVerifySNPReport(t *testing.T) {
	report := evidence(t, "snp/milan-report.bin")
	vcek := evidence(t, "snp/milan-vcek.der")
	raw := readEvidence(t, "snp/milan-report.bin")

	t.Run("debug refused by default", func(t *testing.T) {
		r := donjon(t, "", nil, "verify", "--at", snpTime, "--vcek", vcek, report)
		wantFailure(t, r, 1, "policy: debug", "--allow-debug")
		if r.stdout != "" {
			t.Errorf("a refusal printed claims: %q", r.stdout)
		}
	})
	t.Run("allow-debug accepts and shows it", func(t *testing.T) {
		r := donjon(t, "", nil, "verify", "--at", snpTime, "--vcek", vcek, "--allow-debug", report)
		if r.code != 0 {
			t.Fatalf("refused: %v", r)
		}
		wantRow(t, r.stdout, "debug", "yes")
		wantRow(t, r.stdout, "platform", "snp")
		wantRow(t, r.stdout, "product", "Milan")
		// The claims must be the report's own bytes (offsets from the
		// SEV-SNP ABI: REPORT_DATA 0x50, MEASUREMENT 0x90, CHIP_ID 0x1A0).
		wantRow(t, r.stdout, "report data", hex.EncodeToString(raw[0x50:0x90]))
		wantRow(t, r.stdout, "measurement", hex.EncodeToString(raw[0x90:0xC0]))
		wantRow(t, r.stdout, "chip id", hex.EncodeToString(raw[0x1A0:0x1E0]))
		if !strings.Contains(r.stdout, "SEV-SNP report") {
			t.Errorf("output does not say what was detected:\n%s", r.stdout)
		}
	})
	t.Run("measurement and report data policy", func(t *testing.T) {
		good := hex.EncodeToString(raw[0x90:0xC0])
		other := strings.Repeat("ab", 48)
		base := []string{"verify", "--at", snpTime, "--vcek", vcek, "--allow-debug"}
		r := donjon(t, "", nil, append(base, "--measurement", other, "--measurement", good, "--report-data", "0102030405", report)...)
		if r.code != 0 {
			t.Fatalf("refused the right measurement and report data: %v", r)
		}
		r = donjon(t, "", nil, append(base, "--measurement", other, report)...)
		wantFailure(t, r, 1, "policy: measurement", "--measurement")
		r = donjon(t, "", nil, append(base, "--report-data", "0102030406", report)...)
		wantFailure(t, r, 1, "policy: report-data", "--report-data")
	})
	t.Run("wrong clock", func(t *testing.T) {
		r := donjon(t, "", nil, "verify", "--at", "2030-01-01T00:00:00Z", "--vcek", vcek, "--allow-debug", report)
		wantFailure(t, r, 1, "not valid at the verification time", "--at")
	})
	t.Run("flipped bytes", func(t *testing.T) {
		// Every byte up to the signature (0x2A0) is signed; sample a stride.
		for off := 0; off < 0x2A0; off += 37 {
			b := append([]byte(nil), raw...)
			b[off] ^= 0x01
			r := donjon(t, "", nil, "verify", "--at", snpTime, "--vcek", vcek, "--allow-debug", writeTemp(t, "report.bin", b))
			wantFailure(t, r, 1)
		}
	})
	t.Run("needs vcek", func(t *testing.T) {
		wantFailure(t, donjon(t, "", nil, "verify", "--at", snpTime, report), 2, "--vcek")
	})
}

func TestVerifyTDXQuote(t *testing.T) {
	quote := evidence(t, "tdx/spr-e4-quote.dat")
	raw := readEvidence(t, "tdx/spr-e4-quote.dat")

	r := donjon(t, "", nil, "verify", "--at", tdxTime, quote)
	if r.code != 0 {
		t.Fatalf("refused: %v", r)
	}
	wantRow(t, r.stdout, "platform", "tdx")
	wantRow(t, r.stdout, "fmspc", "50806f000000")
	wantRow(t, r.stdout, "debug", "no")
	// MRTD sits at 48 (header) + 136 in the TD report body.
	wantRow(t, r.stdout, "measurement", hex.EncodeToString(raw[48+136:48+184]))
	if !strings.Contains(r.stdout, "TDX quote") {
		t.Errorf("output does not say what was detected:\n%s", r.stdout)
	}

	wantFailure(t, donjon(t, "", nil, "verify", "--at", "2040-01-01T00:00:00Z", quote), 1, "--at")
	wantFailure(t, donjon(t, "", nil, "verify", "--at", tdxTime, "--measurement", strings.Repeat("00", 48), quote), 1, "policy: mrtd")
	wantFailure(t, donjon(t, "", nil, "verify", "--at", tdxTime, "--roots", evidence(t, "snp/milan-vcek.der"), quote), 1, "tdx:")

	// Flip bytes across the header and TD report body (signed by the
	// attestation key) and the signature data after it.
	for _, off := range []int{8, 30, 100, 300, 500, 631, 640, 700, 900} {
		b := append([]byte(nil), raw...)
		b[off] ^= 0x01
		wantFailure(t, donjon(t, "", nil, "verify", "--at", tdxTime, writeTemp(t, "quote.dat", b)), 1)
	}
}

func TestVerifyEnarxCSR(t *testing.T) {
	csr := evidence(t, "enarx/snp-milan.csr")
	der := readEvidence(t, "enarx/snp-milan.csr")
	pemCSR := writeTemp(t, "csr.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))

	for _, target := range []string{csr, pemCSR} {
		r := donjon(t, "", nil, "verify", "--at", enarxTime, target)
		if r.code != 0 {
			t.Fatalf("refused %s: %v", target, r)
		}
		wantRow(t, r.stdout, "platform", "snp")
		wantRow(t, r.stdout, "product", "Milan")
		wantRow(t, r.stdout, "debug", "no")
		if !strings.Contains(r.stdout, "Enarx CSR") || !strings.Contains(r.stdout, "SHA-384(CSR public key)") {
			t.Errorf("output does not say what was detected and bound:\n%s", r.stdout)
		}
	}

	r := donjon(t, "", nil, "verify", "--at", enarxTime, "--roots", evidence(t, "enarx/milan.pkipath"), csr)
	if r.code != 0 {
		t.Fatalf("refused with Enarx's Milan roots: %v", r)
	}
	wantFailure(t, donjon(t, "", nil, "verify", "--at", enarxTime, "--roots", evidence(t, "enarx/genoa.pkipath"), csr), 1, "untrusted")
	// The CRLs inside expire on 2023-05-09.
	wantFailure(t, donjon(t, "", nil, "verify", "--at", "2023-06-01T00:00:00Z", csr), 1, "--at")

	// The same evidence in a CSR correctly self-signed by another key: the
	// report data does not commit to that key, so it must be refused.
	parsed, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stolen, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: parsed.Subject, ExtraExtensions: parsed.Extensions}, key)
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, donjon(t, "", nil, "verify", "--at", enarxTime, writeTemp(t, "stolen.csr", stolen)), 1, "does not bind the key")

	for off := 40; off < len(der); off += len(der) / 23 {
		b := append([]byte(nil), der...)
		b[off] ^= 0x01
		wantFailure(t, donjon(t, "", nil, "verify", "--at", enarxTime, writeTemp(t, "csr.der", b)), 1)
	}
}

func TestVerifyJSON(t *testing.T) {
	raw := readEvidence(t, "snp/milan-report.bin")
	cases := []struct {
		args     []string
		platform string
		evidence string
		debug    bool
	}{
		{[]string{"--at", snpTime, "--allow-debug", "--vcek", evidence(t, "snp/milan-vcek.der"), evidence(t, "snp/milan-report.bin")}, "snp", "snp-report", true},
		{[]string{"--at", tdxTime, evidence(t, "tdx/spr-e4-quote.dat")}, "tdx", "tdx-quote", false},
		{[]string{"--at", enarxTime, evidence(t, "enarx/snp-milan.csr")}, "snp", "enarx-snp-csr", false},
	}
	for _, c := range cases {
		r := donjon(t, "", nil, append([]string{"verify", "-o", "json"}, c.args...)...)
		if r.code != 0 {
			t.Fatalf("refused: %v", r)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
		}
		for _, field := range []string{"evidence", "platform", "verified_at", "tcb", "tcb_status", "measurement", "report_data", "debug"} {
			if _, ok := got[field]; !ok {
				t.Errorf("%s: JSON has no %q field: %s", c.evidence, field, r.stdout)
			}
		}
		if got["platform"] != c.platform || got["evidence"] != c.evidence || got["debug"] != c.debug {
			t.Errorf("JSON says platform %v, evidence %v, debug %v; want %s, %s, %v", got["platform"], got["evidence"], got["debug"], c.platform, c.evidence, c.debug)
		}
		if c.evidence == "snp-report" {
			if got["measurement"] != hex.EncodeToString(raw[0x90:0xC0]) || got["chip_id"] != hex.EncodeToString(raw[0x1A0:0x1E0]) {
				t.Errorf("JSON claims are not the report's bytes: %s", r.stdout)
			}
			if got["vmpl"] == nil {
				t.Errorf("JSON has no vmpl for SNP: %s", r.stdout)
			}
		}
	}
}

func TestVerifyGarbage(t *testing.T) {
	vcek := evidence(t, "snp/milan-vcek.der")
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	inputs := map[string][]byte{
		"empty":            nil,
		"text":             []byte("hello, this is not evidence\n"),
		"zero report":      make([]byte, 1184),
		"truncated quote":  quote[:200],
		"quote header":     quote[:48],
		"pem certificate":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}),
		"pem csr garbage":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}}),
		"der-looking junk": {0x30, 0x82, 0xff, 0xff, 0x30},
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			r := donjon(t, "", nil, "verify", "--at", snpTime, "--vcek", vcek, writeTemp(t, "target", b))
			wantFailure(t, r, 1)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		wantFailure(t, donjon(t, "", nil, "verify", filepath.Join(t.TempDir(), "absent")), 1, "absent")
	})
	t.Run("garbage vcek", func(t *testing.T) {
		r := donjon(t, "", nil, "verify", "--at", snpTime, "--vcek", writeTemp(t, "vcek", []byte("junk")), evidence(t, "snp/milan-report.bin"))
		wantFailure(t, r, 1, "--vcek", "not a certificate")
	})
	t.Run("garbage roots", func(t *testing.T) {
		r := donjon(t, "", nil, "verify", "--at", enarxTime, "--roots", writeTemp(t, "roots", []byte("junk")), evidence(t, "enarx/snp-milan.csr"))
		wantFailure(t, r, 1, "--roots")
	})
}

func TestVerifyUsage(t *testing.T) {
	report := evidence(t, "snp/milan-report.bin")
	for name, args := range map[string][]string{
		"no target":        {"verify"},
		"two targets":      {"verify", report, report},
		"bad time":         {"verify", "--at", "yesterday", report},
		"unknown flag":     {"verify", "--frobnicate", report},
		"bad output":       {"verify", "-o", "yaml", report},
		"bad measurement":  {"verify", "--measurement", "abcd", report},
		"long report data": {"verify", "--report-data", strings.Repeat("00", 65), report},
		"missing vcek":     {"verify", "--vcek", "/nonexistent/vcek", report},
	} {
		t.Run(name, func(t *testing.T) {
			wantFailure(t, donjon(t, "", nil, args...), 2)
		})
	}
}

// FuzzDetectEvidence feeds untrusted bytes through detection and, for CSRs,
// the whole Enarx path: nothing may panic.
func FuzzDetectEvidence(f *testing.F) {
	for _, name := range []string{"enarx/snp-milan.csr", "tdx/spr-e4-quote.dat", "snp/milan-report.bin"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "evidence", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{4, 0, 2, 0, 0x81, 0, 0, 0})
	req := &verifyRequest{}
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, csr, err := detectEvidence(b)
		if err != nil {
			return
		}
		switch kind {
		case kindEnarxSNPCSR:
			if csr == nil {
				t.Fatal("CSR kind without a CSR")
			}
			_, _ = verifyEnarxCSR(req, csr)
		case kindTDXQuote:
			_, _ = verifyTDX(req, b)
		}
	})
}

func TestVerifyEnarxSGXCSR(t *testing.T) {
	csr := evidence(t, "enarx/sgx-icelake-i5.csr")
	const at = "2023-02-01T00:00:00Z"
	// Intel rates this platform OutOfDate: refused unless a policy accepts it.
	wantFailure(t, donjon(t, "", nil, "verify", "--at", at, csr), 1, "sgx.tcb_status", "OutOfDate")
	pol := writeTemp(t, "sgx.toml", []byte("platforms = [\"sgx\"]\n[workload]\nany_module = true\n[sgx]\ntcb_status = [\"UpToDate\", \"OutOfDate\"]\n"))
	r := donjon(t, "", nil, "verify", "--at", at, "--policy", pol, csr)
	if r.code != 0 {
		t.Fatalf("refused: %v", r)
	}
	wantRow(t, r.stdout, "platform", "sgx")
	wantRow(t, r.stdout, "tcb status", "OutOfDate")
	wantRow(t, r.stdout, "workload", "not attested (the keep binds only its key)")
	// After its CRLs expired.
	wantFailure(t, donjon(t, "", nil, "verify", "--at", "2023-06-01T00:00:00Z", "--policy", pol, csr), 1)
}
