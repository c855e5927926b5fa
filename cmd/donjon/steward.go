package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp/kds"
	"donjon.dev/steward"
)

type stewardFlags struct {
	listen     string
	policy     string
	stateDir   string
	caCert     string
	caKey      string
	tlsCert    string
	tlsKey     string
	logFormat  string
	maxRequest int64
	kdsURL     string
	kdsCache   string
}

func (a *app) stewardCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "steward",
		Short: "The attestation service that certifies keeps",
	}
	cmd.AddCommand(a.stewardServeCommand())
	return cmd
}

func (a *app) stewardServeCommand() *cobra.Command {
	var f stewardFlags
	cmd := &cobra.Command{
		Use:   "serve --policy FILE [flags]",
		Short: "Verify keeps' evidence against a policy and issue them certificates",
		Long: `serve runs the steward: keeps POST a certificate request carrying their
hardware evidence to / (Content-Type application/pkcs10, as Enarx keeps do);
the steward verifies the evidence, appraises it against the policy and answers
with a short-lived certificate carrying the verified claims (a DER PkiPath, CA
first), or 400/403 with the rule that failed.

Keeps it certified may ask for sealing keys: POST /v1/sealing-key (JSON)
with their certificate and a signature by its key; the steward answers with
a key derived from its sealing secret, the platform and the module digest,
wrapped for the keep (docs/steward.md, "Sealing keys").

The CA certificate and key, the sealing secret and the issuance log
(SQLite) live in the state directory; the CA and the secret are generated on
first start (mode 0600) unless --ca-cert and --ca-key name a CA. Back up
STATE/ca.key and STATE/sealing.key together: losing sealing.key loses every
directory sealed with a key from this steward. Relying parties trust
STATE/ca.pem. GET /metrics serves Prometheus metrics, GET /healthz a
liveness probe.
SIGINT or SIGTERM stops accepting and lets requests in flight finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serveSteward(cmd.Context(), &f)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: 2, msg: fmt.Sprintf("steward serve: %v (see donjon steward serve --help)", err)}
	})
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8440", "address to listen on, host:port")
	fl.StringVar(&f.policy, "policy", "", "appraisal policy file (TOML, see docs/policy.md); required")
	fl.StringVar(&f.stateDir, "state-dir", "", "directory for the CA, the sealing secret and the issuance log (default: the user state directory)")
	fl.StringVar(&f.caCert, "ca-cert", "", "CA certificate (PEM) to issue with, instead of the state directory's")
	fl.StringVar(&f.caKey, "ca-key", "", "CA private key (PEM, mode 0600) for --ca-cert")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) for --tls-cert")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	fl.Int64Var(&f.maxRequest, "max-request", steward.DefaultMaxRequest, "largest request body accepted, in bytes")
	fl.StringVar(&f.kdsURL, "kds-url", kds.DefaultBaseURL, "AMD KDS (or a mirror) for VCEKs that keeps do not send; \"none\": use the cache only")
	fl.StringVar(&f.kdsCache, "kds-cache", "", "VCEK and CRL cache directory (default: STATE/kds)")
	return cmd
}

func (a *app) serveSteward(ctx context.Context, f *stewardFlags) error {
	usage := func(format string, args ...any) error {
		return &exitError{code: 2, msg: "steward serve: " + fmt.Sprintf(format, args...)}
	}
	fail := func(format string, args ...any) error {
		return &exitError{code: 1, msg: "steward serve: " + fmt.Sprintf(format, args...)}
	}
	if f.policy == "" {
		return usage("--policy FILE is required: the steward certifies nothing without a policy (docs/policy.md has examples)")
	}
	if (f.caCert == "") != (f.caKey == "") {
		return usage("--ca-cert and --ca-key go together")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usage("--tls-cert and --tls-key go together")
	}
	var handler slog.Handler
	switch f.logFormat {
	case "text":
		handler = slog.NewTextHandler(a.stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(a.stderr, nil)
	default:
		return usage("--log-format %q: use text or json", f.logFormat)
	}
	log := slog.New(handler)

	data, err := readLimited(f.policy)
	if err != nil {
		return fail("policy: %v", err)
	}
	pol, err := policy.Parse(data, f.policy)
	if err != nil {
		return fail("%v", err)
	}
	stateDir := f.stateDir
	if stateDir == "" {
		if stateDir, err = defaultStateDir(); err != nil {
			return fail("%v; pass --state-dir", err)
		}
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fail("state directory: %v", err)
	}
	var ca *steward.CA
	// Whether this state directory was in use before: a new sealing secret
	// beside an old CA means the old secret was lost. (With --ca-cert only
	// the log of releases tells.)
	caExisted := false
	if f.caCert != "" {
		ca, err = steward.LoadCA(f.caCert, f.caKey)
	} else {
		var created bool
		ca, created, err = steward.LoadOrCreateCA(stateDir, "donjon steward CA", time.Now())
		caExisted = !created
		if created {
			log.Info("generated a new CA", "certificate", filepath.Join(stateDir, steward.CACertFile), "key", filepath.Join(stateDir, steward.CAKeyFile))
		}
	}
	if err != nil {
		return fail("%v", err)
	}
	issued, err := steward.OpenLog(ctx, filepath.Join(stateDir, steward.LogFile))
	if err != nil {
		return fail("%v", err)
	}
	defer issued.Close()
	released, err := issued.Releases(ctx)
	if err != nil {
		return fail("%v", err)
	}
	secretFile := filepath.Join(stateDir, steward.SealingSecretFile)
	secret, created, err := steward.LoadOrCreateSealingSecret(stateDir)
	if err != nil {
		return fail("%v", err)
	}
	switch {
	case created && released > 0:
		// The log outlived the secret: the keys it records can no longer
		// be derived, and the directories sealed with them cannot be
		// opened until the old file is restored.
		log.Warn("the sealing secret was missing and a new one was generated: the sealing keys released before cannot be derived again; stop the steward and restore the file from backup",
			"file", secretFile, "earlier_releases", released)
	case created && caExisted:
		// An upgraded steward, or a lost secret with a lost log.
		log.Warn("the state directory had a CA but no sealing secret, so a new one was generated; the issuance log records no sealing key released before, but if this steward released some, stop it and restore the file from backup",
			"file", secretFile)
	case created:
		log.Info("generated a sealing secret; back it up with the CA key: losing it loses every directory sealed with a key from this steward", "file", secretFile)
	}
	vceks := &kds.Fetcher{BaseURL: f.kdsURL, CacheDir: f.kdsCache, Logger: log}
	if vceks.CacheDir == "" {
		vceks.CacheDir = filepath.Join(stateDir, "kds")
	}
	if f.kdsURL == "none" {
		vceks.BaseURL = ""
		vceks.Client = &http.Client{Transport: offlineTransport{}}
	}
	s, err := steward.New(steward.Config{CA: ca, Policy: pol, Log: issued, Logger: log, MaxRequest: f.maxRequest, VCEK: vceks, CRLs: vceks, SealingSecret: secret})
	clear(secret)
	if err != nil {
		return fail("%v", err)
	}

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fail("listen: %v", err)
	}
	scheme := "http"
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			ln.Close()
			return fail("--tls-cert/--tls-key: %v", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
		scheme = "https"
	} else if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("serving plain HTTP beyond loopback: keeps' requests and certificates are public, but a network attacker can refuse or delay them; use --tls-cert for production")
	}
	// One line on stdout that scripts (and make demo) can wait for.
	fmt.Fprintf(a.stdout, "donjon steward: serving %s://%s\n", scheme, ln.Addr())
	log.Info("steward ready", "url", scheme+"://"+ln.Addr().String(), "ca", filepath.Join(stateDir, steward.CACertFile),
		"ca_sha256", ca.Fingerprint(), "policy", f.policy, "log", filepath.Join(stateDir, steward.LogFile), "sealing_secret", secretFile)
	for _, line := range pol.Summary() {
		log.Info("policy", "rule", line)
	}
	if err := s.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fail("%v", err)
	}
	log.Info("steward stopped")
	return nil
}

// offlineTransport refuses every request: --kds-url none.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("network fetches are off (--kds-url none)")
}

func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "donjon", "steward"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "donjon", "steward"), nil
}
