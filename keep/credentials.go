package keep

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"time"
)

// credentials hold the keep's current certificate for its TLS sockets and
// renew it before it expires: certificates are short-lived (hours), keeps
// that serve may run for months.
type credentials struct {
	log  *slog.Logger
	opts AttestOptions

	mu   sync.RWMutex
	att  *Attestation
	cert *tls.Certificate
}

func newCredentials(log *slog.Logger, att *Attestation, opts AttestOptions) *credentials {
	c := &credentials{log: log, opts: opts}
	c.set(att)
	return c
}

func (c *credentials) set(att *Attestation) {
	cert := att.TLSCertificate()
	c.mu.Lock()
	c.att, c.cert = att, &cert
	c.mu.Unlock()
}

func (c *credentials) current() (*Attestation, *tls.Certificate) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.att, c.cert
}

// serverCertificate and clientCertificate serve tls.Config's callbacks.
func (c *credentials) serverCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	_, cert := c.current()
	return cert, nil
}

func (c *credentials) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	_, cert := c.current()
	return cert, nil
}

// renewAfter is when a certificate valid from notBefore to notAfter is
// renewed: two thirds into its life, which leaves a third for retries when
// the steward is briefly unavailable.
func renewAfter(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
}

// retryDelay is how long to wait after a failed renewal with left time
// until expiry: a tenth of it, between 5 seconds and 5 minutes.
func retryDelay(left time.Duration) time.Duration {
	return min(max(left/10, 5*time.Second), 5*time.Minute)
}

// renew keeps the certificate fresh until ctx ends.
func (c *credentials) renew(ctx context.Context) {
	att, _ := c.current()
	leaf := att.Chain[0]
	wait := time.Until(renewAfter(leaf.NotBefore, leaf.NotAfter))
	for {
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		att, _ := c.current()
		next, err := att.Renew(ctx, c.opts)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			left := time.Until(att.Chain[0].NotAfter)
			wait = retryDelay(left)
			if left > 0 {
				c.log.Warn("could not renew the keep's certificate; retrying", "err", err, "expires_in", left.Round(time.Second), "retry_in", wait)
			} else {
				c.log.Error("the keep's certificate has expired and could not be renewed; peers will refuse it", "err", err, "retry_in", wait)
			}
			continue
		}
		c.set(next)
		leaf := next.Chain[0]
		c.log.Info("renewed the keep's certificate", "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		wait = time.Until(renewAfter(leaf.NotBefore, leaf.NotAfter))
	}
}
