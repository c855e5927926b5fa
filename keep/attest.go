package keep

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"donjon.dev/attest"
	"donjon.dev/identity"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
)

// SelfSignedValidity is how long a keep's self-signed certificate is valid:
// the keep's lifetime is rarely longer, and a relying party checks the
// evidence inside, not the date, for what it runs.
const SelfSignedValidity = 24 * time.Hour

// AttestOptions say how a keep obtains its identity.
type AttestOptions struct {
	// Platform is the TEE backend that produces evidence.
	Platform tee.Platform
	// Module and Config are the workload's digests, bound into the evidence.
	Module, Config [32]byte
	// Steward is the attestation service's URL; empty means none: the keep
	// self-signs a certificate carrying its evidence (RA-TLS style).
	Steward string
	// HTTPClient talks to the steward; nil means a default client.
	HTTPClient *http.Client
	// Now is the clock for self-signed certificates; nil means time.Now.
	Now func() time.Time
	// Names are the DNS names and IP addresses the certificate is for (the
	// config's [tls] names); a steward grants only those its policy lists.
	Names []string
	// Plaintext states that the workload has a plain TCP socket or plain
	// directory (attest.Claims.Plaintext): policies refuse it unless they
	// allow it.
	Plaintext bool
}

// Attestation is a keep's attested identity: its key, the evidence binding
// that key to the workload, and the certificate chain relying parties check.
// It lives only in the keep's memory.
type Attestation struct {
	Identity *identity.Identity
	// Chain is the keep's certificate first, then its issuers (TLS order).
	Chain []*x509.Certificate
	// Certified tells that a steward issued Chain; otherwise it is the
	// keep's own self-signed certificate.
	Certified bool
}

// Attest generates the keep's key inside the keep, asks the backend for
// evidence binding it to the workload, and obtains a certificate: from the
// steward when one is configured (the keep does not start if the steward
// refuses), else self-signed.
func Attest(ctx context.Context, opts AttestOptions) (*Attestation, error) {
	if opts.Platform == nil {
		return nil, errors.New("attest keep: no TEE backend")
	}
	id, err := identity.New(ctx, opts.Platform, opts.Module, opts.Config)
	if err != nil {
		return nil, fmt.Errorf("attest keep: %w", err)
	}
	id.DeclarePlaintext(opts.Plaintext)
	return certify(ctx, id, opts)
}

// Renew obtains a fresh certificate for the same key and evidence, before
// the current one expires: a keep serves for longer than a certificate
// lives. opts must be those Attest was called with.
func (a *Attestation) Renew(ctx context.Context, opts AttestOptions) (*Attestation, error) {
	return certify(ctx, a.Identity, opts)
}

// certify obtains a certificate for id: from the steward when one is
// configured, else self-signed.
func certify(ctx context.Context, id *identity.Identity, opts AttestOptions) (*Attestation, error) {
	if opts.Steward == "" {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		der, err := id.SelfSigned(now(), SelfSignedValidity, opts.Names...)
		if err != nil {
			return nil, fmt.Errorf("attest keep: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("attest keep: %w", err)
		}
		return &Attestation{Identity: id, Chain: []*x509.Certificate{cert}}, nil
	}
	csr, err := id.CSR(opts.Names...)
	if err != nil {
		return nil, fmt.Errorf("attest keep: %w", err)
	}
	path, err := stewardclient.Request(ctx, opts.HTTPClient, opts.Steward, csr)
	if err != nil {
		return nil, fmt.Errorf("attest keep: %w", err)
	}
	leaf := path[len(path)-1]
	claims, err := attest.ClaimsFromCertificate(leaf)
	if err != nil {
		return nil, fmt.Errorf("attest keep: the steward's certificate: %w", err)
	}
	if claims.ModuleDigest != opts.Module || claims.ConfigDigest != opts.Config {
		return nil, errors.New("attest keep: the steward certified another workload than this one")
	}
	if !bytes.Equal(leaf.RawSubjectPublicKeyInfo, id.PublicKeyDER()) {
		return nil, errors.New("attest keep: the steward certified another key than this keep's")
	}
	chain := make([]*x509.Certificate, len(path))
	for i, c := range path {
		chain[len(path)-1-i] = c
	}
	return &Attestation{Identity: id, Chain: chain, Certified: true}, nil
}

// StewardCA is the CA certificate of the steward that certified the keep
// (the last of its chain), or nil for a self-signed keep.
func (a *Attestation) StewardCA() *x509.Certificate {
	if !a.Certified || len(a.Chain) < 2 {
		return nil
	}
	return a.Chain[len(a.Chain)-1]
}

// TLSCertificate is the identity for a TLS server or client.
func (a *Attestation) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: a.Identity.Signer(), Leaf: a.Chain[0]}
	for _, cert := range a.Chain {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c
}
