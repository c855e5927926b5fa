package steward

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"donjon.dev/attest"
	"donjon.dev/steward/internal/sealwire"
)

// Sealing keys. TDX derives no keys in hardware, so the steward releases a
// 32-byte key per (platform, debug mode, workload module, purpose) to a keep
// that proves, with a certificate this steward issued and a signature by
// that certificate's key, that it runs that module. The key is wrapped for
// an ephemeral ECDH key the keep made for the request, so it stays
// confidential over plain HTTP and a replayed request yields nothing. See
// docs/steward.md, "Sealing keys".
const (
	SealingKeyPath    = sealwire.Path        // the endpoint: POST with JSON
	ContentTypeJSON   = sealwire.ContentType // of sealing key requests and answers
	SealingSecretFile = "sealing.key"        // 32 random bytes, mode 0600
	SealingSecretSize = 32
	// MaxSealingRequest bounds a sealing key request: a keep certificate
	// (about 1 KiB), a purpose of at most MaxSealingPurpose bytes and two
	// small values, in base64 and JSON.
	MaxSealingRequest = 16 << 10
	MaxSealingPurpose = sealwire.MaxPurpose
	// maxSignature is far above an ASN.1 ECDSA signature on P-521 (139 bytes).
	maxSignature = 256
)

// Rule names of sealing key refusals, beside the policy's (insecure, debug,
// workload.modules, ...), which are applied again at release.
const (
	RuleSealing            = "sealing"             // the steward releases no keys (501)
	RuleSealingCertificate = "sealing.certificate" // not a valid certificate from this steward
	RuleSealingSignature   = "sealing.signature"   // not signed by the certificate's key
	RuleSealingWorkload    = "sealing.workload"    // the certificate binds no workload
)

// ErrSealingNotConfigured is the refusal of a steward without a sealing
// secret (Config.SealingSecret).
var ErrSealingNotConfigured = errors.New("this steward releases no sealing keys: it runs without a sealing secret; use a steward started by `donjon steward serve`, which keeps one in its state directory")

// sealingKeyLabel starts the HKDF info of every released key.
const sealingKeyLabel = "donjon steward sealing key v1\x00"

// SealingKeyRequest is the JSON body of POST /v1/sealing-key. Byte fields
// are standard base64, as encoding/json writes them.
type SealingKeyRequest struct {
	// Certificate is the DER of the keep's certificate, issued by this
	// steward.
	Certificate []byte `json:"certificate"`
	// Purpose names the key: 1 to MaxSealingPurpose bytes of UTF-8
	// without NUL.
	Purpose string `json:"purpose"`
	// PublicKey is a fresh ephemeral P-384 ECDH key of the keep, as an
	// uncompressed point (97 bytes).
	PublicKey []byte `json:"public_key"`
	// Signature is the certificate key's signature over the request
	// message: for ECDSA keys (a keep's are P-384), ASN.1 over SHA-384
	// (see docs/steward.md).
	Signature []byte `json:"signature"`
}

// SealingKeyResponse is the JSON answer to a granted request.
type SealingKeyResponse struct {
	// PublicKey is the steward's ephemeral P-384 point (97 bytes).
	PublicKey []byte `json:"public_key"`
	// Ciphertext is the key sealed with AES-256-GCM (48 bytes).
	Ciphertext []byte `json:"ciphertext"`
	// Signature is the CA key's signature over the answer, bound to the
	// request's public key (see docs/steward.md).
	Signature []byte `json:"signature"`
}

// Release is one released key as the log records it. The key itself is
// never recorded.
type Release struct {
	At       time.Time
	Serial   string // the keep certificate's serial (hex), as in the issued table
	Platform attest.Platform
	Debug    bool
	Module   [32]byte
	Purpose  string
	Remote   string
}

// badRequest is a 400 refusal.
func badRequest(format string, args ...any) *Rejection {
	return &Rejection{http.StatusBadRequest, "request", fmt.Errorf(format, args...)}
}

// ParseSealingKeyRequest decodes and checks the form of a request body:
// one JSON object with exactly the four fields, nothing after it, a valid
// purpose, a P-384 point and non-empty certificate and signature. It checks
// no signature or certificate. The error is a *Rejection (400).
func ParseSealingKeyRequest(body []byte) (*SealingKeyRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r SealingKeyRequest
	if err := dec.Decode(&r); err != nil {
		return nil, badRequest("the body is not a sealing key request (a JSON object with certificate, purpose, public_key and signature): %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("the body has more after the JSON object")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// check applies the form checks of ParseSealingKeyRequest.
func (r *SealingKeyRequest) check() *Rejection {
	switch {
	case len(r.Certificate) == 0:
		return badRequest("no certificate: send the DER of the certificate this steward issued, in base64")
	case len(r.Signature) == 0 || len(r.Signature) > maxSignature:
		return badRequest("the signature is %d bytes: send an ASN.1 ECDSA signature in base64", len(r.Signature))
	}
	if err := sealwire.CheckPurpose(r.Purpose); err != nil {
		return badRequest("%v", err)
	}
	if _, err := sealwire.ParsePoint(r.PublicKey); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// ReleaseSealingKey checks a request and, when it passes, derives the key,
// records the release in the log and returns the key wrapped for the
// request's public key. remote is the requester's address, for the log. The
// error is a *Rejection for refused requests (400, 403, 501), anything
// else for the steward's own failures (no key leaves the steward
// unlogged).
func (s *Steward) ReleaseSealingKey(ctx context.Context, req *SealingKeyRequest, remote string) (*SealingKeyResponse, *Release, error) {
	if s.cfg.SealingSecret == nil {
		return nil, nil, &Rejection{http.StatusNotImplemented, RuleSealing, ErrSealingNotConfigured}
	}
	if rej := req.check(); rej != nil {
		return nil, nil, rej
	}
	leaf, err := x509.ParseCertificate(req.Certificate)
	if err != nil {
		return nil, nil, badRequest("the certificate does not parse: %v", err)
	}
	now := s.cfg.Now()
	claims, err := s.checkKeepCertificate(leaf, now)
	if err != nil {
		return nil, nil, err
	}
	// The certificate's key signs the request, so the certificate is no
	// bearer token: only the keep holding the key can ask.
	if err := sealwire.Verify(leaf.PublicKey, sealwire.SignedMessage(req.Purpose, req.PublicKey), req.Signature); err != nil {
		return nil, nil, &Rejection{http.StatusForbidden, RuleSealingSignature, fmt.Errorf("%v with the certificate's key over this purpose and public key", err)}
	}
	// The policy in force now, not the one the certificate was issued
	// under: removing a module or raising a TCB minimum stops releases at
	// once instead of when certificates expire.
	if err := s.cfg.Policy.Check(claims); err != nil {
		return nil, nil, classify(err)
	}
	if claims.ModuleDigest == [32]byte{} {
		return nil, nil, &Rejection{http.StatusForbidden, RuleSealingWorkload, errors.New("the certificate binds no workload module (an Enarx keep attests its key alone), so there is no workload to release a key to")}
	}
	key, err := deriveSealingKey(s.cfg.SealingSecret, claims, req.Purpose)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: sealing key: %w", err)
	}
	defer clear(key)
	point, ciphertext, err := sealwire.Wrap(req.PublicKey, req.Purpose, key)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: wrap sealing key: %w", err)
	}
	// Signed by the CA, because anyone can wrap a key for the keep's
	// public point: without this, whoever sits between keep and steward
	// could hand the keep a key of their own to seal new data with.
	sig, err := sealwire.Sign(s.cfg.CA.Key, sealwire.AnswerMessage(req.Purpose, req.PublicKey, point, ciphertext))
	if err != nil {
		return nil, nil, fmt.Errorf("steward: sign the sealing key answer: %w", err)
	}
	rel := &Release{
		At:       now,
		Serial:   fmt.Sprintf("%x", leaf.SerialNumber),
		Platform: claims.Platform,
		Debug:    claims.Debug,
		Module:   claims.ModuleDigest,
		Purpose:  req.Purpose,
		Remote:   remote,
	}
	if err := s.cfg.Log.RecordRelease(ctx, *rel); err != nil {
		return nil, nil, err
	}
	return &SealingKeyResponse{PublicKey: point, Ciphertext: ciphertext, Signature: sig}, rel, nil
}

// checkKeepCertificate verifies that leaf is a keep certificate this
// steward issued, valid at now, and returns its claims.
func (s *Steward) checkKeepCertificate(leaf *x509.Certificate, now time.Time) (*attest.Claims, error) {
	forbid := func(format string, args ...any) error {
		return &Rejection{http.StatusForbidden, RuleSealingCertificate, fmt.Errorf(format, args...)}
	}
	if leaf.IsCA {
		return nil, forbid("the certificate is a CA certificate, not a keep's")
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.cfg.CA.Cert)
	// No intermediates: the steward's CA signs keep certificates directly.
	// Keeps act as clients here, and the steward issues them clientAuth.
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, forbid("the certificate is not one this steward issued, or is not valid now (%s): %v; certify the keep with this steward again", now.UTC().Format(time.RFC3339), err)
	}
	claims, err := attest.ClaimsFromCertificate(leaf)
	if err != nil {
		return nil, forbid("%v", err)
	}
	return claims, nil
}

// deriveSealingKey is HKDF-SHA256 with no salt over the steward's secret,
// with info:
//
//	"donjon steward sealing key v1" 0x00
//	len8(platform name) platform name   "nil", "snp", "tdx", "sgx"
//	debug                               one byte, 0 or 1
//	module digest                       32 bytes, from the certificate
//	len32(purpose) purpose              big-endian length
//
// The config digest is left out on purpose, so that changing an
// environment variable or a limit keeps the data. Debug is in, so that a
// debug keep (whose host reads its memory) never gets a production key.
func deriveSealingKey(secret []byte, c *attest.Claims, purpose string) ([]byte, error) {
	name := c.Platform.String()
	info := make([]byte, 0, len(sealingKeyLabel)+1+len(name)+1+32+4+len(purpose))
	info = append(info, sealingKeyLabel...)
	info = append(info, byte(len(name)))
	info = append(info, name...)
	debug := byte(0)
	if c.Debug {
		debug = 1
	}
	info = append(info, debug)
	info = append(info, c.ModuleDigest[:]...)
	info = binary.BigEndian.AppendUint32(info, uint32(len(purpose)))
	info = append(info, purpose...)
	return hkdf.Key(sha256.New, secret, nil, string(info), sealwire.KeySize)
}

// LoadOrCreateSealingSecret reads the steward's sealing secret from dir, or,
// when the file does not exist, generates 32 random bytes and writes them
// there (mode 0600). Every key the steward releases derives from it: losing
// it loses every directory sealed with such a key. A file readable by group
// or others, or of another size, is refused.
func LoadOrCreateSealingSecret(dir string) (secret []byte, created bool, err error) {
	path := filepath.Join(dir, SealingSecretFile)
	info, err := os.Stat(path)
	switch {
	case err == nil:
		secret, err := readSealingSecret(path, info)
		return secret, false, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("steward: sealing secret: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("steward: state directory: %w", err)
	}
	secret = make([]byte, SealingSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, false, fmt.Errorf("steward: generate sealing secret: %w", err)
	}
	if err := writeNew(path, secret, 0o600); err != nil {
		return nil, false, err
	}
	return secret, true, nil
}

func readSealingSecret(path string, info fs.FileInfo) ([]byte, error) {
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("steward: sealing secret %s is not a regular file", path)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("steward: sealing secret %s has mode %04o: anyone who can read it can unseal every directory sealed with a key from this steward; run chmod 600 %s", path, info.Mode().Perm(), path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("steward: sealing secret: %w", err)
	}
	defer f.Close()
	secret, err := io.ReadAll(io.LimitReader(f, SealingSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("steward: read sealing secret %s: %w", path, err)
	}
	if len(secret) != SealingSecretSize {
		return nil, fmt.Errorf("steward: sealing secret %s is not %d bytes; restore it from the backup made with ca.key", path, SealingSecretSize)
	}
	if bytes.Equal(secret, make([]byte, SealingSecretSize)) {
		return nil, fmt.Errorf("steward: sealing secret %s is all zeros; restore it from the backup made with ca.key", path)
	}
	return secret, nil
}
