package keep

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/config"
)

// serverTLS is the TLS configuration of a listen socket: the keep's
// certificate, TLS 1.3 only, and the client authentication fd asks for.
func (c *credentials) serverTLS(fd FD) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: c.serverCertificate,
		NextProtos:     []string{"http/1.1"},
	}
	peer := fd.Peer
	switch {
	case peer.Keep:
		check, err := c.keepPeerCheck(peer)
		if err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return check(cs.PeerCertificates) }
	case peer.CA != "":
		pool, err := c.caPool(peer.CA)
		if err != nil {
			return nil, err
		}
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	return cfg, nil
}

// clientTLS is the TLS configuration of a connect socket: the keep's
// certificate as client certificate, TLS 1.3 only, and the server check fd
// asks for.
func (c *credentials) clientTLS(fd FD) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:           tls.VersionTLS13,
		ServerName:           fd.Host,
		GetClientCertificate: c.clientCertificate,
	}
	peer := fd.Peer
	switch {
	case peer.Keep:
		check, err := c.keepPeerCheck(peer)
		if err != nil {
			return nil, err
		}
		// A keep is known by its attested workload, not by a host name:
		// Go's name and chain check is replaced by the attestation check,
		// which verifies the chain itself.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return check(cs.PeerCertificates) }
	case peer.CA == "" || peer.CA == config.CASystem:
		// nil RootCAs: the host's roots.
	default:
		pool, err := c.caPool(peer.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// caPool resolves a socket's CA ("steward" or PEM) to a pool.
func (c *credentials) caPool(ca string) (*x509.CertPool, error) {
	certs, err := c.cas(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool, nil
}

func (c *credentials) cas(ca string) ([]*x509.Certificate, error) {
	if ca == config.CASteward {
		att, _ := c.current()
		cert := att.StewardCA()
		if cert == nil {
			return nil, errors.New(`ca "steward": this keep has no steward; set steward in Donjon.toml (or --steward), or give the CA's PEM`)
		}
		return []*x509.Certificate{cert}, nil
	}
	return config.ParseCAs(ca)
}

// keepPeerCheck returns the check of a peer that must be an attested keep:
// its chain verified as `donjon verify` does (steward-issued by the CAs
// the socket names, by default this keep's steward; or, for a keep without
// a steward, self-signed with evidence checked against the vendors' roots),
// then its claims appraised against the socket's workload digests.
func (c *credentials) keepPeerCheck(peer config.Peer) (func([]*x509.Certificate) error, error) {
	var cas []*x509.Certificate
	switch {
	case peer.CA != "":
		var err error
		if cas, err = c.cas(peer.CA); err != nil {
			return nil, err
		}
	default:
		att, _ := c.current()
		if ca := att.StewardCA(); ca != nil {
			cas = []*x509.Certificate{ca}
		}
	}
	pol := &policy.Policy{
		Name:      "socket",
		Platforms: []attest.Platform{attest.PlatformSNP, attest.PlatformTDX},
		Workload:  policy.Workload{AnyModule: len(peer.Modules) == 0, Modules: peer.Modules, Configs: peer.Configs},
	}
	if peer.AllowInsecure {
		pol.Platforms = append(pol.Platforms, attest.PlatformNil)
	}
	return func(chain []*x509.Certificate) error {
		if len(chain) == 0 {
			return errors.New("the peer presented no certificate: it is not an attested keep")
		}
		r, err := attest.VerifyChain(chain, attest.VerifyOptions{Now: time.Now(), CAs: cas, AllowInsecure: peer.AllowInsecure})
		if err != nil {
			return fmt.Errorf("the peer is not an attested keep: %w", err)
		}
		if err := pol.Check(&r.Claims); err != nil {
			return fmt.Errorf("the peer keep runs another workload: %w", err)
		}
		return nil
	}, nil
}
