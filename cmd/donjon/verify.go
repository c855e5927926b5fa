package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/attest/tdx"
)

// maxVerifyInput bounds every file verify reads: real evidence is a few KiB,
// so anything far larger is a mistake, not evidence.
const maxVerifyInput = 1 << 20

const snpReportSize = 1184

// Kinds of TARGET, as printed and as the "evidence" JSON field.
const (
	kindSNPReport   = "snp-report"
	kindTDXQuote    = "tdx-quote"
	kindEnarxSNPCSR = "enarx-snp-csr"
	kindEnarxSGXCSR = "enarx-sgx-csr"
)

type verifyFlags struct {
	ca             string
	policy         string
	allowInsecure  bool
	allowPlaintext bool
	at             string
	output         string
	allowDebug     bool
	vcek           string
	roots          string
	measurements   []string
	reportData     string
}

// verifyRequest is the parsed command line: everything a verification
// depends on, the clock included, so nothing below reads ambient state.
type verifyRequest struct {
	now          time.Time
	json         bool
	allowDebug   bool
	vcek         []byte // DER, nil when --vcek was not given
	rootsFile    []byte // raw --roots contents, nil when absent
	measurements [][]byte
	reportData   []byte // 64 bytes, nil when --report-data was not given
	// For keep identities (chains, keep CSRs, host:port):
	cas            []*x509.Certificate // --ca
	policy         *policy.Policy      // --policy; nil means policy.Default
	allowInsecure  bool
	allowPlaintext bool
	snpRoots       []snp.Root          // from --roots, when it holds AMD roots
	tdxRoots       []*x509.Certificate // from --roots, when it holds an Intel root
}

// verifiedClaims is the output of a successful verification. The JSON field
// names are a stable interface for scripts.
type verifiedClaims struct {
	Evidence    string   `json:"evidence"`
	Platform    string   `json:"platform"`
	VerifiedAt  string   `json:"verified_at"`
	Product     string   `json:"product,omitempty"`
	FMSPC       string   `json:"fmspc,omitempty"`
	TCB         string   `json:"tcb"`
	TCBStatus   string   `json:"tcb_status"`
	Firmware    string   `json:"firmware,omitempty"`
	Measurement string   `json:"measurement"`
	MRSEAM      string   `json:"mrseam,omitempty"`
	RTMR        []string `json:"rtmr,omitempty"`
	ReportData  string   `json:"report_data"`
	ChipID      string   `json:"chip_id,omitempty"`
	Debug       bool     `json:"debug"`
	VMPL        *uint32  `json:"vmpl,omitempty"`
	GuestSVN    *uint32  `json:"guest_svn,omitempty"`
	KeyBinding  string   `json:"key_binding,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	// For keep identities:
	Source       string `json:"source,omitempty"`
	Insecure     bool   `json:"insecure"`
	Plaintext    bool   `json:"plaintext,omitempty"`
	ModuleDigest string `json:"module_digest,omitempty"`
	ConfigDigest string `json:"config_digest,omitempty"`
	Issuer       string `json:"issuer,omitempty"`
	NotAfter     string `json:"not_after,omitempty"`
}

func (a *app) verifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify [flags] TARGET",
		Short: "Verify a keep or attestation evidence and print the claims it proves",
		Long: `verify checks a keep's identity or raw attestation evidence and prints what
it proves. TARGET is one of:

  host:port        a running keep: TLS 1.3 handshake, then its certificate chain
  a chain file     a keep's certificates (PEM, DER, or the steward's DER PkiPath)
  a CSR            a keep's certificate request (donjon or Enarx SNP evidence)
  a raw report     an AMD SEV-SNP attestation report (1184 bytes, with --vcek)
  a quote          an Intel TDX quote (version 4)

A keep certified by a steward is trusted through --ca (the steward's
ca.pem); a keep without a steward presents a self-signed certificate with
its hardware evidence inside, checked against the vendor roots.

Without --policy the default policy holds: authentic evidence from SEV-SNP
or TDX, not in debug mode, not the insecure nil backend. --allow-debug and
--allow-insecure widen it for development. verify exits 0 only when
everything verified and the policy holds, 1 with the failed check
otherwise, and 2 on a usage error.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &exitError{code: 2, msg: fmt.Sprintf("verify: want exactly one TARGET, got %d arguments (see donjon verify --help)", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := f.parse(time.Now())
			if err != nil {
				return err
			}
			return a.verify(cmd.Context(), req, args[0])
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: 2, msg: fmt.Sprintf("verify: %v (see donjon verify --help)", err)}
	})
	fl := cmd.Flags()
	fl.StringVar(&f.ca, "ca", "", "trusted steward CA certificates (PEM), for keeps certified by a steward")
	fl.StringVar(&f.policy, "policy", "", "appraisal policy file (TOML, see docs/policy.md) instead of the default policy")
	fl.BoolVar(&f.allowPlaintext, "allow-plaintext", false, "accept a keep whose workload has a plain TCP socket or plain directory (still shown)")
	fl.BoolVar(&f.allowInsecure, "allow-insecure", false, "accept a keep on the nil backend, which protects nothing (development only; still shown)")
	fl.StringVar(&f.at, "at", "", "verification time, RFC 3339 (default: now)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.BoolVar(&f.allowDebug, "allow-debug", false, "accept a guest that can be debugged (it is still shown)")
	fl.StringVar(&f.vcek, "vcek", "", "the VCEK certificate (DER or PEM) that signed a raw SNP report")
	fl.StringVar(&f.roots, "roots", "", "trust anchors instead of the built-in ones: AMD ARK+ASK as DER PkiPath or PEM, or an Intel root CA (DER or PEM)")
	fl.StringArrayVar(&f.measurements, "measurement", nil, "accepted launch measurement (SNP MEASUREMENT or TDX MRTD), 48 bytes hex; repeatable")
	fl.StringVar(&f.reportData, "report-data", "", "required report data, hex, up to 64 bytes (zero-padded)")
	return cmd
}

// parse turns flags into a request; now is the clock used when --at is absent.
func (f *verifyFlags) parse(now time.Time) (*verifyRequest, error) {
	usage := func(format string, args ...any) error {
		return &exitError{code: 2, msg: "verify: " + fmt.Sprintf(format, args...)}
	}
	req := &verifyRequest{now: now, allowDebug: f.allowDebug, allowInsecure: f.allowInsecure, allowPlaintext: f.allowPlaintext}
	switch f.output {
	case "text", "":
	case "json":
		req.json = true
	default:
		return nil, usage("unknown output format %q: use -o text or -o json", f.output)
	}
	if f.at != "" {
		t, err := time.Parse(time.RFC3339, f.at)
		if err != nil {
			return nil, usage("--at %q is not an RFC 3339 time: write it like 2024-06-01T00:00:00Z", f.at)
		}
		req.now = t
	}
	for _, m := range f.measurements {
		b, err := hex.DecodeString(m)
		if err != nil || len(b) != 48 {
			return nil, usage("--measurement %q: want 48 bytes as 96 hex digits", m)
		}
		req.measurements = append(req.measurements, b)
	}
	if f.reportData != "" {
		b, err := hex.DecodeString(f.reportData)
		if err != nil || len(b) > 64 {
			return nil, usage("--report-data %q: want at most 64 bytes as hex digits", f.reportData)
		}
		req.reportData = make([]byte, 64)
		copy(req.reportData, b)
	}
	if f.vcek != "" {
		b, err := readLimited(f.vcek)
		if err != nil {
			return nil, usage("--vcek: %v", err)
		}
		der, err := certDER(b)
		if err == nil {
			_, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("verify: --vcek %s is not a certificate (%v); give the VCEK as DER or PEM, as AMD's KDS serves it", f.vcek, err)}
		}
		req.vcek = der
	}
	if f.roots != "" {
		b, err := readLimited(f.roots)
		if err != nil {
			return nil, usage("--roots: %v", err)
		}
		req.rootsFile = b
		if root, err := snpRoot(b); err == nil {
			req.snpRoots = []snp.Root{root}
		} else if der, err := certDER(b); err == nil {
			if c, err := x509.ParseCertificate(der); err == nil {
				req.tdxRoots = []*x509.Certificate{c}
			}
		}
	}
	if f.ca != "" {
		b, err := readLimited(f.ca)
		if err != nil {
			return nil, usage("--ca: %v", err)
		}
		certs, ok, err := parseChain(b)
		if err != nil || !ok || len(certs) == 0 {
			return nil, usage("--ca %s: want the steward's CA certificate in PEM (its ca.pem)", f.ca)
		}
		req.cas = certs
	}
	if f.policy != "" {
		b, err := readLimited(f.policy)
		if err != nil {
			return nil, usage("--policy: %v", err)
		}
		p, err := policy.Parse(b, f.policy)
		if err != nil {
			return nil, usage("%v", err)
		}
		req.policy = p
	}
	return req, nil
}

func (a *app) verify(ctx context.Context, req *verifyRequest, target string) error {
	if looksLikeHostPort(target) {
		claims, err := verifyKeepTLS(ctx, req, target)
		if err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("verify: %s (%s): %s", target, describeKind(kindKeepTLS), oneLine(err.Error()))}
		}
		return a.printClaims(req, claims)
	}
	data, err := readLimited(target)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("verify: %v", err)}
	}
	kind, csr, err := detectEvidence(data)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("verify: %s: %v", target, err)}
	}
	a.log.Debug("detected evidence", "target", target, "kind", kind)
	var claims *verifiedClaims
	switch kind {
	case kindKeepChain:
		chain, _, perr := parseChain(data)
		if perr != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("verify: %s: %v", target, perr)}
		}
		claims, err = verifyKeepChain(req, chain)
	case kindKeepCSR, kindEnarxSGXCSR:
		claims, err = verifyKeepCSR(req, csr.Raw)
		if claims != nil {
			claims.Evidence = kind
		}
	case kindSNPReport:
		if req.vcek == nil {
			return &exitError{code: 2, msg: fmt.Sprintf("verify: %s is a raw SEV-SNP report: pass the VCEK certificate that signed it with --vcek", target)}
		}
		claims, err = verifySNP(req, kind, data, req.vcek, nil, nil)
	case kindTDXQuote:
		claims, err = verifyTDX(req, data)
	case kindEnarxSNPCSR:
		claims, err = verifyEnarxCSR(req, csr)
	}
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("verify: %s (%s): %s", target, describeKind(kind), oneLine(err.Error()))}
	}
	return a.printClaims(req, claims)
}

func (a *app) printClaims(req *verifyRequest, claims *verifiedClaims) error {
	claims.VerifiedAt = req.now.UTC().Format(time.RFC3339)
	if req.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(claims)
	}
	return writeClaimsText(a.stdout, claims)
}

// detectEvidence tells the kind of TARGET from its bytes alone.
func detectEvidence(data []byte) (string, *x509.CertificateRequest, error) {
	if isTDXQuote(data) {
		return kindTDXQuote, nil, nil
	}
	if len(data) == snpReportSize {
		return kindSNPReport, nil, nil
	}
	if _, ok, _ := parseChain(data); ok {
		return kindKeepChain, nil, nil
	}
	der := data
	if block := pemBlock(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return "", nil, fmt.Errorf("PEM block %q is not evidence donjon can verify: give CERTIFICATEs, a CERTIFICATE REQUEST, a raw SNP report or a TDX quote", block.Type)
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		if len(der) > 0 && der[0] == 0x30 {
			// DER SEQUENCE: most likely a damaged CSR, so say why it failed.
			return "", nil, fmt.Errorf("not a TDX quote (v4), a raw SEV-SNP report (%d bytes, this is %d) or a valid CSR (%v); give one of those", snpReportSize, len(data), err)
		}
		return "", nil, fmt.Errorf("not a TDX quote (v4), a raw SEV-SNP report (%d bytes, this is %d) or a CSR; give one of those", snpReportSize, len(data))
	}
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(attest.OIDEvidence) {
			return kindKeepCSR, csr, nil
		}
		if ext.Id.Equal(attest.OIDEnarxSGX) {
			return kindEnarxSGXCSR, csr, nil
		}
	}
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(snp.EnarxExtensionOID) {
			return kindEnarxSNPCSR, csr, nil
		}
	}
	return "", nil, fmt.Errorf("the CSR carries neither donjon evidence (%v) nor Enarx SEV-SNP (%v) or SGX (%v) evidence", attest.OIDEvidence, snp.EnarxExtensionOID, attest.OIDEnarxSGX)
}

// isTDXQuote checks the quote header: version 4 and TEE type 0x81 (TDX).
func isTDXQuote(b []byte) bool {
	return len(b) >= 48 && binary.LittleEndian.Uint16(b[0:2]) == 4 && binary.LittleEndian.Uint32(b[4:8]) == 0x81
}

func describeKind(kind string) string {
	switch kind {
	case kindSNPReport:
		return "detected a raw SEV-SNP report"
	case kindTDXQuote:
		return "detected a TDX quote v4"
	case kindEnarxSNPCSR:
		return "detected an Enarx CSR with SEV-SNP evidence"
	case kindEnarxSGXCSR:
		return "detected an Enarx CSR with SGX evidence"
	case kindKeepChain:
		return "detected a keep's certificate chain"
	case kindKeepCSR:
		return "detected a keep's certificate request"
	case kindKeepTLS:
		return "a keep over TLS"
	}
	return kind
}

// verifySNP checks a report's authenticity, then bind (when not nil: how the
// report data commits to a key), then the policy.
func verifySNP(req *verifyRequest, kind string, report, vcek []byte, crls []*x509.RevocationList, bind func(*snp.Claims) error) (*verifiedClaims, error) {
	opts := snp.Options{Now: req.now, CRLs: crls}
	if req.rootsFile != nil {
		root, err := snpRoot(req.rootsFile)
		if err != nil {
			return nil, fmt.Errorf("--roots: %w; give AMD's ARK and ASK as a DER PkiPath or PEM", err)
		}
		opts.Roots = []snp.Root{root}
	}
	c, err := snp.Verify(report, vcek, opts)
	if err != nil {
		return nil, withSNPHint(err, req)
	}
	if bind != nil {
		if err := bind(c); err != nil {
			return nil, err
		}
	}
	if err := snp.Check(c, snp.Policy{AllowDebug: req.allowDebug, AllowedMeasurements: req.measurements, ReportData: req.reportData}); err != nil {
		return nil, policyHint(err)
	}
	if req.policy != nil {
		ac := attest.ClaimsFromSNP(c)
		if _, pol := req.keepOptions(); pol != nil {
			if err := pol.Check(&ac); err != nil {
				return nil, err
			}
		}
	}
	vmpl, svn := c.VMPL, c.GuestSVN
	return &verifiedClaims{
		Evidence:    kind,
		Platform:    "snp",
		Product:     c.Product,
		TCB:         c.ReportedTCB.String(),
		TCBStatus:   "not appraised",
		Firmware:    c.CurrentFirmware.String(),
		Measurement: hex.EncodeToString(c.Measurement[:]),
		ReportData:  hex.EncodeToString(c.ReportData[:]),
		ChipID:      hex.EncodeToString(c.ChipID[:]),
		Debug:       c.Policy.Debug,
		VMPL:        &vmpl,
		GuestSVN:    &svn,
	}, nil
}

func verifyEnarxCSR(req *verifyRequest, csr *x509.CertificateRequest) (*verifiedClaims, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR self-signature: %v; the CSR was altered", err)
	}
	var value []byte
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(snp.EnarxExtensionOID) {
			value = ext.Value
		}
	}
	report, vcek, crls, err := snp.ParseEnarxEvidence(value)
	if err != nil {
		return nil, fmt.Errorf("%w; the CSR's evidence extension is damaged", err)
	}
	bind := func(c *snp.Claims) error {
		if err := snp.EnarxBinding(csr, c); err != nil {
			return fmt.Errorf("%w; the evidence was made for another key", err)
		}
		return nil
	}
	claims, err := verifySNP(req, kindEnarxSNPCSR, report, vcek, crls, bind)
	if err != nil {
		return nil, err
	}
	claims.KeyBinding = "report_data[0:48] = SHA-384(CSR public key)"
	claims.Subject = csr.Subject.String()
	if len(crls) > 0 {
		claims.TCBStatus = fmt.Sprintf("not appraised; %d CRLs checked", len(crls))
	}
	return claims, nil
}

func verifyTDX(req *verifyRequest, quote []byte) (*verifiedClaims, error) {
	opts := tdx.Options{Now: req.now}
	if req.rootsFile != nil {
		der, err := certDER(req.rootsFile)
		if err != nil {
			return nil, fmt.Errorf("--roots: %v; give the Intel SGX Root CA as DER or PEM", err)
		}
		root, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("--roots: %v; give the Intel SGX Root CA as DER or PEM", err)
		}
		opts.Roots = []*x509.Certificate{root}
	}
	c, err := tdx.Verify(quote, opts)
	if err != nil {
		return nil, withTDXHint(err, req)
	}
	if err := tdx.Check(c, tdx.Policy{AllowDebug: req.allowDebug, AllowedMRTD: req.measurements, ReportData: req.reportData}); err != nil {
		return nil, policyHint(err)
	}
	if req.policy != nil {
		ac := attest.ClaimsFromTDX(c)
		if _, pol := req.keepOptions(); pol != nil {
			if err := pol.Check(&ac); err != nil {
				return nil, err
			}
		}
	}
	rtmr := make([]string, len(c.RTMR))
	for i, r := range c.RTMR {
		rtmr[i] = hex.EncodeToString(r)
	}
	status := c.TCBStatus
	if status == "" {
		status = "not appraised"
	}
	return &verifiedClaims{
		Evidence:    kindTDXQuote,
		Platform:    "tdx",
		FMSPC:       hex.EncodeToString(c.FMSPC),
		TCB:         fmt.Sprintf("tee_tcb_svn=%s qe_svn=%d pce_svn=%d", hex.EncodeToString(c.TEETCBSVN), c.QESVN, c.PCESVN),
		TCBStatus:   status,
		Measurement: hex.EncodeToString(c.MRTD),
		MRSEAM:      hex.EncodeToString(c.MRSEAM),
		RTMR:        rtmr,
		ReportData:  hex.EncodeToString(c.ReportData),
		Debug:       c.Debug,
	}, nil
}

// snpRoot reads an AMD ARK+ASK pair from a DER PkiPath or from PEM
// certificates, naming the product line after the ARK ("ARK-Milan").
func snpRoot(b []byte) (snp.Root, error) {
	der := b
	if bytes.Contains(b, []byte("-----BEGIN")) {
		var raws []asn1.RawValue
		rest := b
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type == "CERTIFICATE" {
				raws = append(raws, asn1.RawValue{FullBytes: block.Bytes})
			}
		}
		seq, err := asn1.Marshal(raws)
		if err != nil {
			return snp.Root{}, err
		}
		der = seq
	}
	root, err := snp.RootFromPKIPath("", der)
	if err != nil {
		return snp.Root{}, err
	}
	cn := root.ARK.Subject.CommonName
	product, ok := strings.CutPrefix(cn, "ARK-")
	if !ok {
		return snp.Root{}, fmt.Errorf("the root's name %q does not say its product line (want ARK-Milan, ARK-Genoa or ARK-Turin)", cn)
	}
	root.Product = product
	return root, nil
}

// withSNPHint says what to do about a failed SNP verification.
func withSNPHint(err error, req *verifyRequest) error {
	switch {
	case errors.Is(err, snp.ErrExpired):
		return fmt.Errorf("%w; the evidence was checked at %s: pass --at with a time when it was valid", err, req.now.UTC().Format(time.RFC3339))
	case errors.Is(err, snp.ErrBadSignature):
		return fmt.Errorf("%w; the report was altered, or --vcek is not the VCEK of the chip that signed it", err)
	case errors.Is(err, snp.ErrUntrustedChain):
		return fmt.Errorf("%w; give this chip's VCEK, or AMD's roots for its product line with --roots", err)
	case errors.Is(err, snp.ErrRevoked):
		return fmt.Errorf("%w; AMD revoked this platform's key: do not trust it", err)
	case errors.Is(err, snp.ErrMalformed):
		return fmt.Errorf("%w; the evidence is damaged or not SEV-SNP evidence", err)
	}
	return err
}

// withTDXHint says what to do about a failed TDX verification.
func withTDXHint(err error, req *verifyRequest) error {
	switch {
	case errors.Is(err, tdx.ErrExpired):
		return fmt.Errorf("%w; the quote was checked at %s: pass --at with a time when it was valid", err, req.now.UTC().Format(time.RFC3339))
	case errors.Is(err, tdx.ErrBadSignature):
		return fmt.Errorf("%w; the quote was altered", err)
	case errors.Is(err, tdx.ErrUntrustedChain):
		return fmt.Errorf("%w; if it chains to another root, pass that root with --roots", err)
	case errors.Is(err, tdx.ErrRevoked):
		return fmt.Errorf("%w; Intel revoked this platform's key: do not trust it", err)
	case errors.Is(err, tdx.ErrMalformed):
		return fmt.Errorf("%w; the quote is damaged or not a TDX quote v4", err)
	}
	return err
}

// policyHint turns a policy rejection into the rule and what to do about it.
func policyHint(err error) error {
	var sp *snp.PolicyError
	var tp *tdx.PolicyError
	rule := ""
	switch {
	case errors.As(err, &sp):
		rule = sp.Rule
	case errors.As(err, &tp):
		rule = tp.Rule
	}
	switch rule {
	case snp.RuleDebug:
		return errors.New("policy: debug: the guest allows debugging; pass --allow-debug to accept it (it is still shown)")
	case snp.RuleMeasurement, "mrtd":
		return fmt.Errorf("%w; the launch measurement is none of the --measurement values", err)
	case snp.RuleReportData, "report data":
		return fmt.Errorf("%w; the report data differs from --report-data", err)
	}
	return err
}

func writeClaimsText(w io.Writer, c *verifiedClaims) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	row("verified", describeKind(c.Evidence)+": authentic, policy holds")
	row("platform", c.Platform)
	row("verified at", c.VerifiedAt)
	row("product", c.Product)
	row("fmspc", c.FMSPC)
	row("tcb", c.TCB)
	row("tcb status", c.TCBStatus)
	row("firmware", c.Firmware)
	row("measurement", c.Measurement)
	row("mrseam", c.MRSEAM)
	for i, r := range c.RTMR {
		row(fmt.Sprintf("rtmr%d", i), r)
	}
	row("report data", c.ReportData)
	row("chip id", c.ChipID)
	if c.Debug {
		row("debug", "yes")
	} else {
		row("debug", "no")
	}
	if c.VMPL != nil {
		row("vmpl", fmt.Sprint(*c.VMPL))
	}
	if c.GuestSVN != nil {
		row("guest svn", fmt.Sprint(*c.GuestSVN))
	}
	row("key binding", c.KeyBinding)
	row("subject", c.Subject)
	row("source", c.Source)
	if c.Source != "" {
		if c.Insecure {
			row("insecure", "YES: nil backend, no hardware protection, development only")
		} else {
			row("insecure", "no")
		}
		if c.Plaintext {
			row("plaintext", "YES: a plain TCP socket or plain directory: some of its data leaves the keep unprotected")
		}
		if c.ModuleDigest != "" {
			row("module", c.ModuleDigest)
			row("config", c.ConfigDigest)
		} else {
			row("workload", "not attested (the keep binds only its key)")
		}
	}
	row("issuer", c.Issuer)
	row("not after", c.NotAfter)
	return tw.Flush()
}

// readLimited reads a whole file of at most maxVerifyInput bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxVerifyInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxVerifyInput {
		return nil, fmt.Errorf("%s is larger than %d bytes, which no evidence is", path, maxVerifyInput)
	}
	return b, nil
}

// certDER accepts one certificate as DER or PEM and returns its DER.
func certDER(b []byte) ([]byte, error) {
	if block := pemBlock(b); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		return block.Bytes, nil
	}
	return b, nil
}

// pemBlock decodes the first PEM block of a file that is PEM, and only of
// such a file: DER evidence can carry PEM text inside it (an Enarx SGX CSR
// holds Intel's PEM certificates), which is not a PEM file.
func pemBlock(b []byte) *pem.Block {
	if !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("-----BEGIN ")) {
		return nil
	}
	block, _ := pem.Decode(b)
	return block
}

// oneLine keeps an error message on the single line the contract promises.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
