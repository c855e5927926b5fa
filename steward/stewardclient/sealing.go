package stewardclient

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"donjon.dev/steward/internal/sealwire"
)

// ErrNoSealingKeys is wrapped when the steward releases no sealing keys:
// it has no sealing secret (501), or predates them (404).
var ErrNoSealingKeys = errors.New("the steward releases no sealing keys")

// maxSealingResponse bounds the answer: base64 values of 97 and 48 bytes
// and a signature (512 bytes for RSA-4096) in a small JSON object, or a
// one-line refusal.
const maxSealingResponse = 4 << 10

// sealingRequest and sealingResponse are the JSON bodies (see
// steward.SealingKeyRequest).
type sealingRequest struct {
	Certificate []byte `json:"certificate"`
	Purpose     string `json:"purpose"`
	PublicKey   []byte `json:"public_key"`
	Signature   []byte `json:"signature"`
}

type sealingResponse struct {
	PublicKey  []byte `json:"public_key"`
	Ciphertext []byte `json:"ciphertext"`
	Signature  []byte `json:"signature"`
}

// SealingKey asks the steward at stewardURL for the 32-byte sealing key
// named purpose (1 to 1024 bytes of UTF-8 without NUL). ca is that
// steward's CA certificate, as the keep trusts it (the first certificate
// Request returned), leaf the keep's certificate it issued, and signer
// leaf's private key.
//
// The steward derives the key from its secret and, from leaf's claims, the
// platform, debug mode and module digest, and purpose. It wraps the key for
// an ephemeral key made here for this request, so the key is confidential
// even over plain HTTP, and signs the answer with ca's key, so nobody on
// the way can substitute a key of their own. Refusals wrap ErrRefused or
// ErrNoSealingKeys and quote the steward's reason.
func SealingKey(ctx context.Context, client *http.Client, stewardURL string, ca, leaf *x509.Certificate, signer crypto.Signer, purpose string) ([]byte, error) {
	u, err := url.Parse(stewardURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("steward URL %.100q: want http(s)://host[:port][/path]", stewardURL)
	}
	if err := sealwire.CheckPurpose(purpose); err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	if ca == nil || leaf == nil || signer == nil {
		return nil, errors.New("sealing key: no CA, certificate or key: certify the keep with the steward first")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("sealing key: the keep's certificate is not issued by the CA given: %w", err)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("sealing key: the signer's key is not the certificate's")
	}
	eph, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sealing key: ephemeral key: %w", err)
	}
	point := eph.PublicKey().Bytes()
	sig, err := sealwire.Sign(signer, sealwire.SignedMessage(purpose, point))
	if err != nil {
		return nil, fmt.Errorf("sealing key: sign the request: %w", err)
	}
	body, err := json.Marshal(sealingRequest{Certificate: leaf.Raw, Purpose: purpose, PublicKey: point, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}

	answer, err := post(ctx, client, u.JoinPath(sealwire.Path), sealwire.ContentType, body, maxSealingResponse)
	var status *statusError
	switch {
	case errors.As(err, &status) && (status.code == http.StatusBadRequest || status.code == http.StatusForbidden || status.code == http.StatusRequestEntityTooLarge):
		return nil, fmt.Errorf("%w a sealing key (%d): %s", ErrRefused, status.code, status.reason)
	case errors.As(err, &status) && (status.code == http.StatusNotImplemented || status.code == http.StatusNotFound):
		return nil, fmt.Errorf("%w (steward %s answered %s); use a steward that has a sealing secret", ErrNoSealingKeys, u.Redacted(), status)
	case errors.As(err, &status):
		return nil, fmt.Errorf("steward %s answered %s", u.Redacted(), status)
	case err != nil:
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	var sr sealingResponse
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return nil, fmt.Errorf("steward %s: the sealing key answer is not the expected JSON: %w", u.Redacted(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("steward %s: the sealing key answer has more after its JSON object", u.Redacted())
	}
	if err := sealwire.Verify(ca.PublicKey, sealwire.AnswerMessage(purpose, point, sr.PublicKey, sr.Ciphertext), sr.Signature); err != nil {
		return nil, fmt.Errorf("steward %s: the sealing key answer is not signed by the steward's CA (%v): someone between the keep and the steward may have replaced it", u.Redacted(), err)
	}
	key, err := sealwire.Unwrap(eph, sr.PublicKey, purpose, sr.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("steward %s: sealing key: %w", u.Redacted(), err)
	}
	return key, nil
}
