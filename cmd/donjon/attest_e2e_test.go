package main

// End-to-end attestation: a keep's identity made on a fake TEE device (the
// real wire formats, signed by test-only vendor chains) goes to a real
// steward over HTTP on loopback, and the chain it gets back is checked by
// the donjon binary, from a file and over a TLS handshake. The keep side is
// keep.Attest, the code `donjon run` runs; only the device is fake.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/keep"
	"donjon.dev/steward"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

var (
	e2eModule = sha256.Sum256([]byte("the workload's wasm module"))
	e2eConfig = sha256.Sum256([]byte("steward = \"http://127.0.0.1\"\n"))
)

// e2eSteward is a steward on loopback whose policy text is given, trusting
// the fake devices' vendor roots.
type e2eSteward struct {
	url    string
	caFile string
}

func startSteward(t *testing.T, policyText string, snpRoots []snp.Root, tdxRoots []*x509.Certificate) *e2eSteward {
	t.Helper()
	dir := t.TempDir()
	pol, err := policy.Parse([]byte(policyText), "e2e.toml")
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := steward.LoadOrCreateCA(dir, "e2e steward CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lg, err := steward.OpenLog(context.Background(), filepath.Join(dir, steward.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	s, err := steward.New(steward.Config{CA: ca, Policy: pol, Log: lg, SNPRoots: snpRoots, TDXRoots: tdxRoots})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &e2eSteward{url: srv.URL, caFile: filepath.Join(dir, steward.CACertFile)}
}

func policyFor(platforms string, module [32]byte) string {
	return fmt.Sprintf("platforms = [%s]\n[workload]\nmodules = [%q]\n", platforms, fmt.Sprintf("%x", module))
}

// writeChain writes a keep's chain as PEM, keep first.
func writeChain(t *testing.T, att *keep.Attestation) string {
	t.Helper()
	var b bytes.Buffer
	for _, c := range att.Chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return writeTemp(t, "chain.pem", b.Bytes())
}

func verifiedJSON(t *testing.T, r result) verifiedClaims {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("verify refused: %v", r)
	}
	var c verifiedClaims
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("verify -o json printed %q: %v", r.stdout, err)
	}
	return c
}

func TestAttestSNPKeepThroughSteward(t *testing.T) {
	fake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	st := startSteward(t, policyFor(`"snp"`, e2eModule), []snp.Root{fake.Root}, nil)
	att, err := keep.Attest(context.Background(), keep.AttestOptions{
		Platform: tee.NewSNP(fake.Client), Module: e2eModule, Config: e2eConfig, Steward: st.url,
	})
	if err != nil {
		t.Fatalf("keep.Attest: %v", err)
	}
	if !att.Certified || len(att.Chain) != 2 {
		t.Fatalf("attestation certified=%t with %d certificates", att.Certified, len(att.Chain))
	}
	chain := writeChain(t, att)

	c := verifiedJSON(t, donjon(t, "", nil, "verify", "--ca", st.caFile, "-o", "json", chain))
	if c.Platform != "snp" || c.Source != "steward certificate" || c.Insecure || c.Debug ||
		c.ModuleDigest != fmt.Sprintf("%x", e2eModule) || c.ConfigDigest != fmt.Sprintf("%x", e2eConfig) || c.Product != "Milan" {
		t.Fatalf("verified claims %+v", c)
	}

	t.Run("without the steward CA", func(t *testing.T) {
		wantFailure(t, donjon(t, "", nil, "verify", chain), 1, "--ca")
	})
	t.Run("another steward's CA", func(t *testing.T) {
		other := startSteward(t, policyFor(`"snp"`, e2eModule), nil, nil)
		wantFailure(t, donjon(t, "", nil, "verify", "--ca", other.caFile, chain), 1, "unknown authority")
	})
	t.Run("a policy pinning another workload", func(t *testing.T) {
		pol := writeTemp(t, "policy.toml", []byte(policyFor(`"snp"`, sha256.Sum256([]byte("other")))))
		wantFailure(t, donjon(t, "", nil, "verify", "--ca", st.caFile, "--policy", pol, chain), 1, "workload.modules")
	})
	t.Run("a policy pinning this workload", func(t *testing.T) {
		pol := writeTemp(t, "policy.toml", []byte(policyFor(`"snp"`, e2eModule)))
		verifiedJSON(t, donjon(t, "", nil, "verify", "--ca", st.caFile, "--policy", pol, "-o", "json", chain))
	})
	t.Run("over TLS", func(t *testing.T) {
		addr := serveTLS(t, att.TLSCertificate())
		c := verifiedJSON(t, donjon(t, "", nil, "verify", "--ca", st.caFile, "-o", "json", addr))
		if c.Evidence != kindKeepTLS || c.ModuleDigest != fmt.Sprintf("%x", e2eModule) || !strings.Contains(c.KeyBinding, "TLS") {
			t.Fatalf("verified over TLS: %+v", c)
		}
	})
	t.Run("a stolen certificate over TLS", func(t *testing.T) {
		// Someone presents the keep's chain with a key of their own: the
		// handshake proves they do not hold the keep's key.
		thief, err := keep.Attest(context.Background(), keep.AttestOptions{
			Platform: tee.NewSNP(fake.Client), Module: e2eModule, Config: e2eConfig,
		})
		if err != nil {
			t.Fatal(err)
		}
		stolen := att.TLSCertificate()
		stolen.PrivateKey = thief.Identity.Signer()
		addr := serveTLS(t, stolen)
		r := donjon(t, "", nil, "verify", "--ca", st.caFile, addr)
		if r.code != 1 {
			t.Fatalf("verify of a stolen certificate: %v", r)
		}
	})
}

func TestAttestTDXKeepThroughSteward(t *testing.T) {
	fake, err := teetest.NewFakeTDX(teetest.TDXOptions{Created: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	st := startSteward(t, policyFor(`"tdx"`, e2eModule), nil, []*x509.Certificate{fake.Root})
	att, err := keep.Attest(context.Background(), keep.AttestOptions{
		Platform: tee.NewTDX(fake.Client), Module: e2eModule, Config: e2eConfig, Steward: st.url,
	})
	if err != nil {
		t.Fatalf("keep.Attest: %v", err)
	}
	c := verifiedJSON(t, donjon(t, "", nil, "verify", "--ca", st.caFile, "-o", "json", writeChain(t, att)))
	if c.Platform != "tdx" || c.Insecure || c.Debug || c.ModuleDigest != fmt.Sprintf("%x", e2eModule) || c.FMSPC == "" {
		t.Fatalf("verified claims %+v", c)
	}
	// An SNP-only steward refuses the same keep, naming the rule.
	snpOnly := startSteward(t, policyFor(`"snp"`, e2eModule), nil, []*x509.Certificate{fake.Root})
	_, err = keep.Attest(context.Background(), keep.AttestOptions{
		Platform: tee.NewTDX(fake.Client), Module: e2eModule, Config: e2eConfig, Steward: snpOnly.url,
	})
	if err == nil || !strings.Contains(err.Error(), "platform") {
		t.Fatalf("SNP-only steward and a TDX keep: %v", err)
	}
}

func TestAttestNilKeep(t *testing.T) {
	strict := startSteward(t, policyFor(`"snp", "tdx"`, e2eModule), nil, nil)
	_, err := keep.Attest(context.Background(), keep.AttestOptions{
		Platform: tee.NilPlatform{}, Module: e2eModule, Config: e2eConfig, Steward: strict.url,
	})
	if err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Fatalf("a hardware-only steward and a nil keep: %v", err)
	}

	dev := startSteward(t, policyFor(`"nil"`, e2eModule), nil, nil)
	att, err := keep.Attest(context.Background(), keep.AttestOptions{
		Platform: tee.NilPlatform{}, Module: e2eModule, Config: e2eConfig, Steward: dev.url,
	})
	if err != nil {
		t.Fatalf("a development steward and a nil keep: %v", err)
	}
	chain := writeChain(t, att)
	// The default policy of the relying party refuses it all the same.
	wantFailure(t, donjon(t, "", nil, "verify", "--ca", dev.caFile, chain), 1, "nil backend", "--allow-insecure")
	r := donjon(t, "", nil, "verify", "--ca", dev.caFile, "--allow-insecure", chain)
	if r.code != 0 {
		t.Fatalf("--allow-insecure: %v", r)
	}
	wantRow(t, r.stdout, "insecure", "YES: nil backend, no hardware protection, development only")

	// Without a steward the keep's self-signed certificate says the same.
	self, err := keep.Attest(context.Background(), keep.AttestOptions{Platform: tee.NilPlatform{}, Module: e2eModule, Config: e2eConfig})
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, donjon(t, "", nil, "verify", writeChain(t, self)), 1, "--allow-insecure")
}

// A keep without a steward: its self-signed certificate carries the
// evidence, which verify checks against the vendor roots given.
func TestAttestSelfSignedSNP(t *testing.T) {
	fake, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	att, err := keep.Attest(context.Background(), keep.AttestOptions{Platform: tee.NewSNP(fake.Client), Module: e2eModule, Config: e2eConfig})
	if err != nil {
		t.Fatal(err)
	}
	if att.Certified || len(att.Chain) != 1 {
		t.Fatalf("self-signed attestation: certified=%t, %d certificates", att.Certified, len(att.Chain))
	}
	chain := writeChain(t, att)
	var roots bytes.Buffer
	pem.Encode(&roots, &pem.Block{Type: "CERTIFICATE", Bytes: fake.Root.ARK.Raw})
	pem.Encode(&roots, &pem.Block{Type: "CERTIFICATE", Bytes: fake.Root.ASK.Raw})
	rootsFile := writeTemp(t, "roots.pem", roots.Bytes())

	c := verifiedJSON(t, donjon(t, "", nil, "verify", "--roots", rootsFile, "-o", "json", chain))
	if c.Source != "donjon evidence" || c.Platform != "snp" || c.ModuleDigest != fmt.Sprintf("%x", e2eModule) || c.ReportData == "" {
		t.Fatalf("verified claims %+v", c)
	}
	// AMD's real roots do not sign the test chain.
	wantFailure(t, donjon(t, "", nil, "verify", chain), 1)
}

// serveTLS serves cert over TLS 1.3 on loopback until the test ends.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				c.(*tls.Conn).Handshake()
				c.Close()
			}(conn)
		}
	}()
	return ln.Addr().String()
}
