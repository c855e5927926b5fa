package tdx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"donjon.dev/attest/internal/intelpki"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
)

// checkCollateral checks the CRLs and, when TCB info and QE identity are given, appraises the
// TCB with go-tdx-guest. It returns the TCB status ("" when there was no TCB appraisal).
func checkCollateral(c *Collateral, quote *pb.QuoteV4, leaf, intermediate, anchor *x509.Certificate, roots *x509.CertPool, now time.Time) (string, error) {
	hasTCB := len(c.TCBInfo) > 0 || len(c.QEIdentity) > 0
	var tcbSigner, tcbAnchor *x509.Certificate
	if hasTCB {
		if len(c.TCBInfo) == 0 || len(c.QEIdentity) == 0 {
			return "", fmt.Errorf("%w: TCB info and QE identity must be given together", ErrCollateral)
		}
		certs, err := intelpki.ParsePEMCerts(c.TCBSigningChain, 0)
		if err != nil {
			return "", fmt.Errorf("%w: TCB signing chain (required with TCB info): %v", ErrCollateral, err)
		}
		tcbSigner = certs[0]
		if tcbAnchor, err = intelpki.VerifyChain(tcbSigner, certs[1:], roots, now, "TCB signing certificate", ErrExpired, ErrUntrustedChain); err != nil {
			return "", fmt.Errorf("%w: %w", ErrCollateral, err)
		}
	}

	if len(c.PCKCRL) > 0 {
		crl, err := checkCRL(c.PCKCRL, intermediate, now, "PCK CRL")
		if err != nil {
			return "", err
		}
		if err := notRevoked(crl, leaf, "PCK certificate"); err != nil {
			return "", err
		}
	}
	if len(c.RootCRL) > 0 {
		crl, err := checkCRL(c.RootCRL, anchor, now, "root CA CRL")
		if err != nil {
			return "", err
		}
		if err := notRevoked(crl, intermediate, "PCK intermediate CA"); err != nil {
			return "", err
		}
		if tcbSigner != nil && tcbAnchor.Equal(anchor) {
			if err := notRevoked(crl, tcbSigner, "TCB signing certificate"); err != nil {
				return "", err
			}
		}
	}
	if !hasTCB {
		return "", nil
	}

	if err := checkSignedJSON(c.TCBInfo, "tcbInfo", tcbSigner, now); err != nil {
		return "", err
	}
	if err := checkSignedJSON(c.QEIdentity, "enclaveIdentity", tcbSigner, now); err != nil {
		return "", err
	}
	getter := &offlineGetter{
		tcbInfo:     c.TCBInfo,
		qeIdentity:  c.QEIdentity,
		issuerChain: url.QueryEscape(string(pemCert(tcbSigner)) + string(pemCert(tcbAnchor))),
	}
	// The collateral's signatures and dates are checked above, so what go-tdx-guest can still
	// reject here is the match of the quote against TCB info and QE identity.
	opts := &verify.Options{Now: now, TrustedRoots: roots, GetCollateral: true, Getter: getter}
	if err := verify.TdxQuote(quote, opts); err != nil {
		return "", fmt.Errorf("%w: %v", ErrTCB, err)
	}
	return "UpToDate", nil
}

func checkCRL(data []byte, issuer *x509.Certificate, now time.Time, what string) (*x509.RevocationList, error) {
	if block, _ := pem.Decode(data); block != nil {
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCollateral, what, err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("%w: %s is issued by %q, want %q", ErrCollateral, what, crl.Issuer, issuer.Subject)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%w: %w: %s: %v", ErrCollateral, ErrBadSignature, what, err)
	}
	if now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && now.After(crl.NextUpdate)) {
		return nil, fmt.Errorf("%w: %w: %s is valid from %s to %s, not at %s", ErrCollateral, ErrExpired, what,
			crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return crl, nil
}

func notRevoked(crl *x509.RevocationList, cert *x509.Certificate, what string) error {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return fmt.Errorf("%w: %s (serial %x) revoked at %s", ErrRevoked, what, cert.SerialNumber, e.RevocationTime.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// checkSignedJSON checks an Intel PCS response {"<field>": {...}, "signature": "<hex r||s>"}:
// the signature over the exact bytes of the field, and its issueDate/nextUpdate window.
func checkSignedJSON(data []byte, field string, signer *x509.Certificate, now time.Time) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCollateral, field, err)
	}
	body, ok := doc[field]
	if !ok {
		return fmt.Errorf("%w: %s: field missing", ErrCollateral, field)
	}
	var sigHex string
	if err := json.Unmarshal(doc["signature"], &sigHex); err != nil {
		return fmt.Errorf("%w: %s: signature: %v", ErrCollateral, field, err)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return fmt.Errorf("%w: %s: signature: %v", ErrCollateral, field, err)
	}
	key, ok := signer.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return fmt.Errorf("%w: TCB signing key is not ECDSA P-256", ErrCollateral)
	}
	if !intelpki.VerifyRaw(key, body, sig) {
		return fmt.Errorf("%w: %w: %s signature does not verify with the TCB signing certificate", ErrCollateral, ErrBadSignature, field)
	}
	var dates struct {
		IssueDate  time.Time `json:"issueDate"`
		NextUpdate time.Time `json:"nextUpdate"`
	}
	if err := json.Unmarshal(body, &dates); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCollateral, field, err)
	}
	if now.Before(dates.IssueDate) || now.After(dates.NextUpdate) {
		return fmt.Errorf("%w: %w: %s is valid from %s to %s, not at %s", ErrCollateral, ErrExpired, field,
			dates.IssueDate.UTC().Format(time.RFC3339), dates.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// offlineGetter answers go-tdx-guest's collateral requests from bytes given by the caller, so
// that verification never touches the network.
type offlineGetter struct {
	tcbInfo, qeIdentity []byte
	issuerChain         string // URL-escaped PEM, as in Intel PCS response headers
}

func (g *offlineGetter) Get(u string) (map[string][]string, []byte, error) {
	switch {
	case strings.Contains(u, "/tcb?"):
		return map[string][]string{"Tcb-Info-Issuer-Chain": {g.issuerChain}}, g.tcbInfo, nil
	case strings.HasSuffix(u, "/qe/identity"):
		return map[string][]string{"Sgx-Enclave-Identity-Issuer-Chain": {g.issuerChain}}, g.qeIdentity, nil
	}
	return nil, nil, errors.New("offline verification: no collateral for " + u)
}
