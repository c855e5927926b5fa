// Package intelpki holds what verifying Intel DCAP quotes (SGX v3, TDX v4)
// shares: the PEM certificate chain a quote embeds, chain verification to an
// Intel root, and Intel's raw ECDSA P-256 signature format.
package intelpki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// RawSigSize is an Intel-format ECDSA P-256 signature: r||s, 32 bytes each,
// big-endian.
const RawSigSize = 64

// ParsePEMCerts parses a run of PEM CERTIFICATE blocks, allowing only
// padding after the last. max bounds the certificates read; 0 means no bound
// beyond the input's size.
func ParsePEMCerts(data []byte, max int) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for max <= 0 || len(certs) <= max {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %.40q, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if max > 0 && len(certs) > max {
		return nil, fmt.Errorf("more than %d certificates", max)
	}
	if len(bytes.Trim(data, "\x00\r\n\t ")) != 0 {
		return nil, errors.New("unexpected bytes after the last certificate")
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}

// VerifyChain verifies cert up to one of roots at now and returns the anchor
// that was used. Failures wrap errExpired when a certificate is outside its
// validity at now, else errUntrusted; what names the chain in messages.
func VerifyChain(cert *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, now time.Time, what string, errExpired, errUntrusted error) (*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		// Intel PCK and TCB signing certificates carry no extended key usage.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return nil, fmt.Errorf("%w: %s chain at %s: %v", errExpired, what, now.UTC().Format(time.RFC3339), err)
		}
		return nil, fmt.Errorf("%w: %s: %v", errUntrusted, what, err)
	}
	chain := chains[0]
	return chain[len(chain)-1], nil
}

// VerifyRaw checks an Intel-format signature (RawSigSize bytes) over
// SHA-256(msg).
func VerifyRaw(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != RawSigSize {
		return false
	}
	digest := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}
