// Package stewardclient is the keep's side of the steward protocol: it sends
// a certificate request carrying the keep's evidence and checks the chain it
// gets back before the keep uses it, and asks for sealing keys with the
// certificate it got.
package stewardclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Content types of the protocol (see package steward).
const (
	contentTypeCSR = "application/pkcs10"
	maxResponse    = 256 << 10
	maxChain       = 8
	// DefaultTimeout bounds one request when the caller's context has no
	// earlier deadline.
	DefaultTimeout = 30 * time.Second
)

// ErrRefused is wrapped when the steward answered 400 or 403: it looked at
// the request and said no. The message carries its one-line reason.
var ErrRefused = errors.New("the steward refused the keep")

// Request posts csrDER to the steward at stewardURL and returns the chain it
// issued, CA first, keep last. It checks what it can without trusting the
// steward: the answer is a well-formed chain whose last certificate is for
// the request's key and is signed by the certificate before it. Whether the
// keep should trust that CA is for relying parties to decide.
func Request(ctx context.Context, client *http.Client, stewardURL string, csrDER []byte) ([]*x509.Certificate, error) {
	u, err := url.Parse(stewardURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("steward URL %.100q: want http(s)://host[:port][/path]", stewardURL)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	body, err := post(ctx, client, u, contentTypeCSR, csrDER, maxResponse)
	var status *statusError
	switch {
	case errors.As(err, &status) && (status.code == http.StatusBadRequest || status.code == http.StatusForbidden):
		return nil, fmt.Errorf("%w (%d): %s", ErrRefused, status.code, status.reason)
	case errors.As(err, &status):
		return nil, fmt.Errorf("steward %s answered %s", u.Redacted(), status)
	case err != nil:
		return nil, err
	}
	chain, err := ParsePkiPath(body)
	if err != nil {
		return nil, fmt.Errorf("steward %s: %w", u.Redacted(), err)
	}
	leaf := chain[len(chain)-1]
	if !bytes.Equal(leaf.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("steward %s issued a certificate for another key", u.Redacted())
	}
	for i := len(chain) - 1; i > 0; i-- {
		if err := chain[i].CheckSignatureFrom(chain[i-1]); err != nil {
			return nil, fmt.Errorf("steward %s: certificate %d is not signed by certificate %d: %w", u.Redacted(), i, i-1, err)
		}
	}
	return chain, nil
}

// statusError is a steward's answer other than 200 OK.
type statusError struct {
	code   int
	status string
	reason string // the steward's one-line reason
}

func (e *statusError) Error() string { return e.status + ": " + e.reason }

// post sends body to the steward at u and returns its 200 answer, read up
// to limit bytes; any other answer is a *statusError. Without a deadline
// on ctx it applies DefaultTimeout.
func post(ctx context.Context, client *http.Client, u *url.URL, contentType string, body []byte, limit int) ([]byte, error) {
	if client == nil {
		client = &http.Client{}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("steward %s: %w", u.Redacted(), err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("steward %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("steward %s: reading the answer: %w", u.Redacted(), err)
	}
	if len(answer) > limit {
		return nil, fmt.Errorf("steward %s: answer larger than %d bytes", u.Redacted(), limit)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{code: resp.StatusCode, status: resp.Status, reason: reason(answer)}
	}
	return answer, nil
}

// ParsePkiPath decodes a DER PkiPath (SEQUENCE OF Certificate), as the
// steward answers, CA first, keep last.
func ParsePkiPath(der []byte) ([]*x509.Certificate, error) {
	var raw []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return nil, fmt.Errorf("answer is not a DER PkiPath: %w", err)
	}
	if len(rest) != 0 || len(raw) == 0 || len(raw) > maxChain {
		return nil, fmt.Errorf("answer is not a PkiPath of 1 to %d certificates", maxChain)
	}
	chain := make([]*x509.Certificate, 0, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("PkiPath certificate %d: %w", i, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// reason makes a steward's plain-text answer safe for one log line.
func reason(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "(no reason given)"
	}
	return s
}
