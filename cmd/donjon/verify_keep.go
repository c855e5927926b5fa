package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/steward/stewardclient"
)

// Kinds of TARGET that carry a donjon keep's identity.
const (
	kindKeepChain = "keep-chain"
	kindKeepCSR   = "keep-csr"
	kindKeepTLS   = "keep-tls"
)

// dialTimeout bounds the TLS handshake with a keep.
const dialTimeout = 15 * time.Second

// looksLikeHostPort tells whether target names a network endpoint rather
// than a file: it is not a file here and splits as host:port.
func looksLikeHostPort(target string) bool {
	if _, err := os.Stat(target); err == nil {
		return false
	}
	host, port, err := net.SplitHostPort(target)
	return err == nil && host != "" && port != ""
}

// parseChain reads certificates as PEM (any number), one DER certificate, or
// a DER PkiPath. ok is false when data is none of those.
func parseChain(data []byte) (certs []*x509.Certificate, ok bool, err error) {
	if block := pemBlock(data); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, false, nil
		}
		rest := data
		for {
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				return nil, true, fmt.Errorf("PEM block %q among the certificates: give only CERTIFICATE blocks", block.Type)
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, true, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
			}
			certs = append(certs, c)
		}
		return certs, true, nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, true, nil
	}
	if certs, err := stewardclient.ParsePkiPath(data); err == nil {
		return certs, true, nil
	}
	return nil, false, nil
}

// keepOptions are the attest options and policy a keep's identity is
// checked with. The flags widen the policy: --allow-insecure accepts the
// nil backend and --allow-debug debug-mode TEEs even when the policy file
// does not.
func (req *verifyRequest) keepOptions() (attest.VerifyOptions, *policy.Policy) {
	pol := req.policy
	if pol == nil {
		pol = policy.Default()
	}
	widened := *pol
	widened.Platforms = slices.Clone(pol.Platforms)
	if req.allowInsecure && !slices.Contains(widened.Platforms, attest.PlatformNil) {
		widened.Platforms = append(widened.Platforms, attest.PlatformNil)
	}
	if req.allowDebug {
		widened.AllowDebug = true
	}
	if req.allowPlaintext {
		widened.Workload.AllowPlaintext = true
	}
	opts := attest.VerifyOptions{
		Now:           req.now,
		CAs:           req.cas,
		SNPRoots:      req.snpRoots,
		TDXRoots:      req.tdxRoots,
		SGXRoots:      req.tdxRoots,
		SGXTCBStatus:  widened.SGX.TCBStatus,
		AllowInsecure: slices.Contains(widened.Platforms, attest.PlatformNil),
		AllowDebug:    widened.AllowDebug,
	}
	return opts, &widened
}

func verifyKeepChain(req *verifyRequest, chain []*x509.Certificate) (*verifiedClaims, error) {
	opts, pol := req.keepOptions()
	r, err := attest.VerifyChain(chain, opts)
	if err != nil {
		return nil, keepHint(err)
	}
	if err := pol.Check(&r.Claims); err != nil {
		return nil, err
	}
	return keepClaims(kindKeepChain, r, chain), nil
}

func verifyKeepCSR(req *verifyRequest, der []byte) (*verifiedClaims, error) {
	opts, pol := req.keepOptions()
	r, csr, err := attest.VerifyCSR(der, opts)
	if err != nil {
		return nil, keepHint(err)
	}
	if err := pol.Check(&r.Claims); err != nil {
		return nil, err
	}
	c := keepClaims(kindKeepCSR, r, nil)
	c.Subject = csr.Subject.String()
	return c, nil
}

// verifyKeepTLS connects to a keep, verifies the chain it presents in the
// handshake (which also proves it holds the certificate's key) and closes.
func verifyKeepTLS(ctx context.Context, req *verifyRequest, target string) (*verifiedClaims, error) {
	opts, pol := req.keepOptions()
	host, _, _ := net.SplitHostPort(target)
	var r *attest.Result
	var chain []*x509.Certificate
	conf := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS13,
		// The keep's chain is not checked against the system's web PKI
		// roots or a host name but against its attestation, below: a keep
		// is trusted for what it runs, not for the name it is reached by.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			var err error
			chain = cs.PeerCertificates
			r, err = attest.VerifyChain(cs.PeerCertificates, opts)
			return err
		},
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: conf}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		if r == nil && chain != nil {
			// The handshake reached our check and it failed: say why
			// without the TLS wrapping.
			var ve *tls.CertificateVerificationError
			if errors.As(err, &ve) {
				return nil, keepHint(ve.Err)
			}
		}
		return nil, keepHint(err)
	}
	conn.Close()
	if err := pol.Check(&r.Claims); err != nil {
		return nil, err
	}
	c := keepClaims(kindKeepTLS, r, chain)
	c.KeyBinding = "TLS 1.3 handshake: the keep holds the certificate's key"
	return c, nil
}

func keepClaims(kind string, r *attest.Result, chain []*x509.Certificate) *verifiedClaims {
	c := r.Claims
	out := &verifiedClaims{
		Evidence:     kind,
		Source:       r.Source,
		Platform:     c.Platform.String(),
		Product:      c.Product,
		Measurement:  hex.EncodeToString(c.Measurement),
		Debug:        c.Debug,
		Insecure:     c.Insecure,
		Plaintext:    c.Plaintext,
		TCBStatus:    "not appraised",
		ModuleDigest: hex.EncodeToString(c.ModuleDigest[:]),
		ConfigDigest: hex.EncodeToString(c.ConfigDigest[:]),
	}
	if !c.WorkloadBound() {
		out.ModuleDigest, out.ConfigDigest = "", ""
	}
	switch c.Platform {
	case attest.PlatformSNP:
		if len(c.TCB) == 8 {
			out.TCB = snp.DecodeTCB(c.Product, binary.LittleEndian.Uint64(c.TCB)).String()
		}
		out.ChipID = hex.EncodeToString(c.PlatformID)
	case attest.PlatformTDX:
		out.TCB = "tee_tcb_svn=" + hex.EncodeToString(c.TCB)
		out.FMSPC = hex.EncodeToString(c.PlatformID)
	case attest.PlatformSGX:
		out.TCB = "cpu_svn||pce_svn=" + hex.EncodeToString(c.TCB)
		out.FMSPC = hex.EncodeToString(c.PlatformID)
	case attest.PlatformNil:
		out.TCB, out.TCBStatus = "none", "none: no hardware"
	}
	if r.SNP != nil {
		out.Firmware = r.SNP.CurrentFirmware.String()
		out.ReportData = hex.EncodeToString(r.SNP.ReportData[:])
	}
	if r.SGX != nil {
		out.ReportData = hex.EncodeToString(r.SGX.ReportData)
		out.TCBStatus = r.SGX.TCBStatus
	}
	if r.TDX != nil {
		out.ReportData = hex.EncodeToString(r.TDX.ReportData)
		if r.TDX.TCBStatus != "" {
			out.TCBStatus = r.TDX.TCBStatus
		}
	}
	if !r.NotAfter.IsZero() {
		out.NotAfter = r.NotAfter.UTC().Format(time.RFC3339)
	}
	if len(chain) > 0 {
		for _, cert := range chain {
			if cert.IsCA {
				continue
			}
			out.Subject = cert.Subject.String()
			if r.Source == attest.SourceSteward {
				out.Issuer = cert.Issuer.String()
			}
		}
	}
	return out
}

// keepHint says what to do about a failed keep verification.
func keepHint(err error) error {
	switch {
	case errors.Is(err, attest.ErrInsecure):
		return errors.New("the keep runs on the nil backend: no hardware protects it and nothing proves what it runs; pass --allow-insecure to accept it for development")
	case errors.Is(err, attest.ErrSGXTCBStatus):
		return fmt.Errorf("policy: sgx.tcb_status: %w; accept it with [sgx] tcb_status in a --policy file", err)
	case errors.Is(err, attest.ErrDebug):
		return errors.New("the keep's TEE is in debug mode, so its host can read and change it; pass --allow-debug to accept it for development (it is still shown)")
	case errors.Is(err, attest.ErrChain) && errors.As(err, new(x509.UnknownAuthorityError)):
		return fmt.Errorf("%w; pass the CA certificate of the steward that certified the keep with --ca", err)
	}
	return err
}
