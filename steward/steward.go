// Package steward is donjon's attestation service: it verifies the evidence
// in a keep's certificate request against a policy and issues the keep a
// short-lived certificate carrying the verified claims.
//
// The wire protocol is Enarx's: POST / with Content-Type application/pkcs10
// and a DER CSR; 200 with a DER PkiPath (SEQUENCE OF Certificate, CA first,
// keep last), 400 with a one-line reason for malformed input, 403 with the
// rule that failed when the evidence does not satisfy the policy.
//
// Keeps it certified can also ask for sealing keys (POST /v1/sealing-key,
// see ReleaseSealingKey), which the steward derives from its sealing secret
// and the workload its certificate names.
package steward

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/sgx"
	"donjon.dev/attest/snp"
)

// VCEKSource finds the VCEK for an SEV-SNP report whose keep sent no
// certificate table (a cache or AMD's KDS; see attest/snp/kds).
type VCEKSource interface {
	VCEK(ctx context.Context, report []byte) ([]byte, error)
}

// CRLSource supplies AMD's revocation list for a product line ("Milan",
// "Genoa", "Turin"), from a cache or AMD's KDS. The verifier checks its
// signature and freshness.
type CRLSource interface {
	CRL(ctx context.Context, product string) (*x509.RevocationList, error)
}

// DefaultMaxRequest bounds a request body: a CSR with SNP evidence and its
// certificate table is under 16 KB, an Enarx one with two CRLs under 64 KB.
const DefaultMaxRequest = 256 << 10

// Config is everything a steward needs. CA, Policy and Log are required.
type Config struct {
	CA     *CA
	Policy *policy.Policy
	Log    *Log
	// SNPRoots and TDXRoots are the vendor trust anchors; nil means the real
	// AMD (Milan, Genoa, Turin) and Intel SGX roots.
	SNPRoots []snp.Root
	TDXRoots []*x509.Certificate
	SGXRoots []*x509.Certificate
	// VCEK, when set, supplies VCEKs for SNP evidence without a
	// certificate table.
	VCEK VCEKSource
	// CRLs, when set, supplies AMD CRLs for SNP evidence, which is then
	// refused if AMD revoked its VCEK's ASK. When the source has none (no
	// network, nothing cached) the evidence is checked without, and the
	// steward logs it.
	CRLs CRLSource
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxRequest bounds request bodies; 0 means DefaultMaxRequest.
	MaxRequest int64
	// SealingSecret, SealingSecretSize bytes, is what every sealing key
	// the steward releases derives from (LoadOrCreateSealingSecret); nil
	// means the steward releases none and POST /v1/sealing-key answers 501.
	SealingSecret []byte
}

// Steward verifies certificate requests and issues certificates.
// It is safe for concurrent use.
type Steward struct {
	cfg     Config
	metrics *metrics
}

// New checks cfg and returns a steward.
func New(cfg Config) (*Steward, error) {
	switch {
	case cfg.CA == nil || cfg.CA.Cert == nil || cfg.CA.Key == nil:
		return nil, errors.New("steward: no CA")
	case cfg.Policy == nil:
		return nil, errors.New("steward: no policy")
	case cfg.Log == nil:
		return nil, errors.New("steward: no issuance log")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRequest <= 0 {
		cfg.MaxRequest = DefaultMaxRequest
	}
	if cfg.SealingSecret != nil {
		if len(cfg.SealingSecret) != SealingSecretSize {
			return nil, fmt.Errorf("steward: the sealing secret is %d bytes, want %d", len(cfg.SealingSecret), SealingSecretSize)
		}
		cfg.SealingSecret = slices.Clone(cfg.SealingSecret)
		warnUnpinned(cfg.Logger, cfg.Policy)
	}
	return &Steward{cfg: cfg, metrics: newMetrics()}, nil
}

// Rejection is a request the steward refused: Status is the HTTP status
// (400, 403, 413; 501 for sealing keys from a steward without a sealing
// secret), Rule names what failed (a policy rule, or "request", "evidence",
// "binding", "insecure", "debug", "unsupported", or one of the RuleSealing
// names).
type Rejection struct {
	Status int
	Rule   string
	Err    error
}

func (r *Rejection) Error() string { return r.Rule + ": " + oneLine(r.Err.Error()) }
func (r *Rejection) Unwrap() error { return r.Err }

// classify turns a verification or policy error into a Rejection.
func classify(err error) *Rejection {
	var v *policy.Violation
	switch {
	case errors.As(err, &v):
		return &Rejection{http.StatusForbidden, v.Rule, err}
	case errors.Is(err, attest.ErrCSR):
		return &Rejection{http.StatusBadRequest, "request", err}
	case errors.Is(err, attest.ErrUnsupported):
		return &Rejection{http.StatusForbidden, "unsupported", err}
	case errors.Is(err, attest.ErrInsecure):
		return &Rejection{http.StatusForbidden, "insecure", err}
	case errors.Is(err, attest.ErrDebug):
		return &Rejection{http.StatusForbidden, "debug", err}
	case errors.Is(err, attest.ErrSGXTCBStatus):
		return &Rejection{http.StatusForbidden, policy.RuleSGXTCBStatus, err}
	case errors.Is(err, attest.ErrReportData), errors.Is(err, snp.ErrBinding), errors.Is(err, sgx.ErrBinding):
		return &Rejection{http.StatusForbidden, "binding", err}
	}
	return &Rejection{http.StatusForbidden, "evidence", err}
}

// Verify checks csrDER and appraises its claims against the policy, without
// issuing anything. The error is a *Rejection.
func (s *Steward) Verify(ctx context.Context, csrDER []byte) (*attest.Result, *x509.CertificateRequest, error) {
	opts := attest.VerifyOptions{
		Now:           s.cfg.Now(),
		SNPRoots:      s.cfg.SNPRoots,
		TDXRoots:      s.cfg.TDXRoots,
		SGXRoots:      s.cfg.SGXRoots,
		SGXTCBStatus:  s.cfg.Policy.SGX.TCBStatus,
		AllowInsecure: slices.Contains(s.cfg.Policy.Platforms, attest.PlatformNil),
		AllowDebug:    s.cfg.Policy.AllowDebug,
	}
	if err := s.findSNPCollateral(ctx, csrDER, &opts); err != nil {
		return nil, nil, err
	}
	r, csr, err := attest.VerifyCSR(csrDER, opts)
	if err != nil {
		return nil, nil, classify(err)
	}
	if err := s.cfg.Policy.Check(&r.Claims); err != nil {
		return nil, nil, classify(err)
	}
	if len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 {
		return nil, nil, &Rejection{http.StatusForbidden, policy.RuleCertificateNames, errors.New("the request asks for URI or e-mail names: a steward certifies only DNS names and IP addresses")}
	}
	if err := s.cfg.Policy.CheckNames(csr.DNSNames, csr.IPAddresses); err != nil {
		return nil, nil, classify(err)
	}
	return r, csr, nil
}

// findSNPCollateral asks the sources for the VCEK of SNP evidence that came
// without one, and for the CRL of its product line.
func (s *Steward) findSNPCollateral(ctx context.Context, csrDER []byte, opts *attest.VerifyOptions) error {
	if s.cfg.VCEK == nil && s.cfg.CRLs == nil {
		return nil
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil // VerifyCSR reports it
	}
	ev, err := attest.EvidenceFromCSR(csr)
	if err != nil || ev.Platform != attest.PlatformSNP {
		return nil
	}
	if s.cfg.VCEK != nil && !ev.HasVCEK() {
		vcek, err := s.cfg.VCEK.VCEK(ctx, ev.Report)
		if err != nil {
			return &Rejection{http.StatusForbidden, "evidence", fmt.Errorf("the keep sent no VCEK and none could be found: %w", err)}
		}
		opts.SNPVCEK = vcek
	}
	if s.cfg.CRLs != nil {
		// The verifier applies the list whose issuer is the evidence's
		// ARK and ignores the others; the source caches them, so asking
		// for every product line costs nothing after the first request.
		for _, product := range []string{snp.Milan, snp.Genoa, snp.Turin} {
			crl, err := s.cfg.CRLs.CRL(ctx, product)
			if err != nil {
				s.cfg.Logger.Debug("no AMD CRL: SNP evidence from this product line is checked without revocation", "product", product, "err", err)
				continue
			}
			opts.SNPCRLs = append(opts.SNPCRLs, crl)
		}
	}
	return nil
}

// Issue verifies csrDER, and when it passes issues a certificate, records it
// in the log and returns the DER PkiPath (CA, keep). remote is the
// requester's address, for the log. The error is a *Rejection for refused
// requests, anything else for the steward's own failures (no certificate
// leaves the steward unlogged).
func (s *Steward) Issue(ctx context.Context, csrDER []byte, remote string) ([]byte, *Entry, error) {
	r, csr, err := s.Verify(ctx, csrDER)
	if err != nil {
		return nil, nil, err
	}
	now := s.cfg.Now()
	if now.Before(s.cfg.CA.Cert.NotBefore) || !now.Before(s.cfg.CA.Cert.NotAfter) {
		return nil, nil, fmt.Errorf("steward: the CA certificate is valid from %s to %s, not now (%s); renew the CA or fix the clock",
			s.cfg.CA.Cert.NotBefore.UTC().Format(time.RFC3339), s.cfg.CA.Cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	claimsExt, err := r.Claims.Extension()
	if err != nil {
		return nil, nil, fmt.Errorf("steward: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(s.cfg.Policy.Lifetime())
	if notAfter.After(s.cfg.CA.Cert.NotAfter) {
		notAfter = s.cfg.CA.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subjectName(&r.Claims)},
		// A minute of slack for clocks a little behind the steward's.
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{claimsExt},
		// Names the policy granted (Verify checked them).
		DNSNames:    csr.DNSNames,
		IPAddresses: csr.IPAddresses,
	}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, s.cfg.CA.Cert, csr.PublicKey, s.cfg.CA.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: sign certificate: %w", err)
	}
	entry := &Entry{
		Serial:      fmt.Sprintf("%x", serial),
		IssuedAt:    now,
		NotAfter:    notAfter,
		Source:      r.Source,
		Claims:      r.Claims,
		Remote:      remote,
		Certificate: leaf,
	}
	if err := s.cfg.Log.Record(ctx, *entry); err != nil {
		return nil, nil, err
	}
	path, err := asn1.Marshal([]asn1.RawValue{{FullBytes: s.cfg.CA.Cert.Raw}, {FullBytes: leaf}})
	if err != nil {
		return nil, nil, fmt.Errorf("steward: encode PkiPath: %w", err)
	}
	return path, entry, nil
}

// warnUnpinned says when the policy lets any launch image of a hardware
// platform have sealing keys: the module digest is stated by the runtime
// inside the TEE, so only a pinned launch measurement says which runtime
// states it.
func warnUnpinned(log *slog.Logger, p *policy.Policy) {
	if slices.Contains(p.Platforms, attest.PlatformTDX) && len(p.TDX.MRTDs) == 0 {
		log.Warn("the policy accepts any TDX MRTD: a TD launched from any image that states an allowed module can have that module's sealing keys; list [tdx] mrtd")
	}
	if slices.Contains(p.Platforms, attest.PlatformSNP) && len(p.SNP.Measurements) == 0 {
		log.Warn("the policy accepts any SNP launch measurement: a guest launched from any image that states an allowed module can have that module's sealing keys; list [snp] measurements")
	}
}

func subjectName(c *attest.Claims) string {
	if c.Insecure {
		return "donjon keep INSECURE (nil backend, no hardware protection)"
	}
	return "donjon keep (" + c.Platform.String() + ")"
}
