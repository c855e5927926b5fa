// Package sealwire is the cryptography that the steward and its client must
// agree on byte for byte to release a sealing key: the message a keep signs,
// and the wrapping of the key under an ephemeral ECDH exchange. The JSON
// bodies and the checks around them live with each side.
package sealwire

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Protocol constants.
const (
	// Path is the steward's endpoint.
	Path = "/v1/sealing-key"
	// ContentType is the type of requests and answers.
	ContentType = "application/json"
	// MaxPurpose bounds a purpose, in bytes.
	MaxPurpose = 1024
	// KeySize is the size of a sealing key.
	KeySize = 32
	// PointSize is an uncompressed P-384 point: 0x04 || X || Y.
	PointSize = 1 + 2*48
	// CiphertextSize is a wrapped key: the key and the AES-GCM tag.
	CiphertextSize = KeySize + 16
)

// Labels for domain separation. Each ends in NUL so that no label is a
// prefix of another's message. The signed message starts with "donjon", so
// it can never be a TLS 1.3 CertificateVerify input (64 spaces first) or a
// DER certificate request (0x30), the other things a keep's key signs.
const (
	signLabel   = "donjon steward sealing key request v1\x00"
	wrapLabel   = "donjon steward sealing key wrap v1\x00"
	answerLabel = "donjon steward sealing key answer v1\x00"
)

// CheckPurpose reports whether p may name a sealing key: 1 to MaxPurpose
// bytes of UTF-8 without NUL.
func CheckPurpose(p string) error {
	switch {
	case p == "":
		return errors.New("the purpose is empty")
	case len(p) > MaxPurpose:
		return fmt.Errorf("the purpose is %d bytes, at most %d allowed", len(p), MaxPurpose)
	case !utf8.ValidString(p):
		return errors.New("the purpose is not valid UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("the purpose contains a NUL byte")
	}
	return nil
}

// appendField appends a 4-byte big-endian length and b.
func appendField(dst []byte, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// SignedMessage is what a keep signs with its certificate's key (see Sign):
// signLabel || len32(purpose) || purpose || len32(publicKey) || publicKey.
func SignedMessage(purpose string, publicKey []byte) []byte {
	m := make([]byte, 0, len(signLabel)+8+len(purpose)+len(publicKey))
	m = append(m, signLabel...)
	m = appendField(m, []byte(purpose))
	return appendField(m, publicKey)
}

// AnswerMessage is what the steward's CA key signs in an answer:
// answerLabel || len32(purpose) || purpose || len32(keepPoint) || keepPoint
// || len32(stewardPoint) || stewardPoint || len32(ciphertext) || ciphertext.
// The keep's point is fresh for each request, so an answer signed for one
// request fits no other.
func AnswerMessage(purpose string, keepPoint, stewardPoint, ciphertext []byte) []byte {
	m := make([]byte, 0, len(answerLabel)+16+len(purpose)+len(keepPoint)+len(stewardPoint)+len(ciphertext))
	m = append(m, answerLabel...)
	m = appendField(m, []byte(purpose))
	m = appendField(m, keepPoint)
	m = appendField(m, stewardPoint)
	return appendField(m, ciphertext)
}

// Sign signs msg the way Verify checks it: ECDSA over
// SHA-384 (ASN.1), RSA-PSS over SHA-384 (salt as long as the hash), or
// Ed25519 over msg itself.
func Sign(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
		sum := sha512.Sum384(msg)
		return key.Sign(rand.Reader, sum[:], crypto.SHA384)
	case *rsa.PublicKey:
		sum := sha512.Sum384(msg)
		return key.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384})
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	return nil, fmt.Errorf("cannot sign with a %T key", key.Public())
}

// Verify checks a signature made by Sign.
func Verify(pub crypto.PublicKey, msg, sig []byte) error {
	ok := false
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		sum := sha512.Sum384(msg)
		ok = ecdsa.VerifyASN1(pub, sum[:], sig)
	case *rsa.PublicKey:
		sum := sha512.Sum384(msg)
		ok = rsa.VerifyPSS(pub, crypto.SHA384, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case ed25519.PublicKey:
		ok = ed25519.Verify(pub, msg, sig)
	default:
		return fmt.Errorf("cannot verify with a %T key", pub)
	}
	if !ok {
		return errors.New("the signature does not verify")
	}
	return nil
}

// ParsePoint reads an uncompressed P-384 point, rejecting anything else
// (compressed forms, the point at infinity, points off the curve).
func ParsePoint(b []byte) (*ecdh.PublicKey, error) {
	if len(b) != PointSize {
		return nil, fmt.Errorf("the public key is %d bytes, want an uncompressed P-384 point of %d", len(b), PointSize)
	}
	pub, err := ecdh.P384().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("the public key is not a P-384 point: %w", err)
	}
	return pub, nil
}

// aead is AES-256-GCM under HKDF-SHA256(shared, info = wrapLabel ||
// keepPoint || stewardPoint). Both points have a fixed size.
func aead(shared, keepPoint, stewardPoint []byte) (cipher.AEAD, error) {
	info := wrapLabel + string(keepPoint) + string(stewardPoint)
	key, err := hkdf.Key(sha256.New, shared, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("wrap key: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wrap key: %w", err)
	}
	return cipher.NewGCM(block)
}

// zeroNonce is safe because every wrap key is used once: it depends on the
// steward's ephemeral key, fresh for every answer.
var zeroNonce [12]byte

// Wrap encrypts key for the keep that sent keepPoint: it makes an ephemeral
// P-384 key, and returns its point and AES-256-GCM(wrap key, zero nonce,
// key, additional data = purpose).
func Wrap(keepPoint []byte, purpose string, key []byte) (stewardPoint, ciphertext []byte, err error) {
	keepPub, err := ParsePoint(keepPoint)
	if err != nil {
		return nil, nil, err
	}
	eph, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(keepPub)
	if err != nil {
		return nil, nil, fmt.Errorf("ECDH: %w", err)
	}
	defer clear(shared)
	stewardPoint = eph.PublicKey().Bytes()
	gcm, err := aead(shared, keepPoint, stewardPoint)
	if err != nil {
		return nil, nil, err
	}
	return stewardPoint, gcm.Seal(nil, zeroNonce[:], key, []byte(purpose)), nil
}

// Unwrap is the keep's side of Wrap: eph is the key whose point the keep
// sent, stewardPoint and ciphertext what the steward answered.
func Unwrap(eph *ecdh.PrivateKey, stewardPoint []byte, purpose string, ciphertext []byte) ([]byte, error) {
	stewardPub, err := ParsePoint(stewardPoint)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) != CiphertextSize {
		return nil, fmt.Errorf("the wrapped key is %d bytes, want %d", len(ciphertext), CiphertextSize)
	}
	shared, err := eph.ECDH(stewardPub)
	if err != nil {
		return nil, fmt.Errorf("ECDH: %w", err)
	}
	defer clear(shared)
	gcm, err := aead(shared, eph.PublicKey().Bytes(), stewardPoint)
	if err != nil {
		return nil, err
	}
	key, err := gcm.Open(nil, zeroNonce[:], ciphertext, []byte(purpose))
	if err != nil {
		return nil, errors.New("the wrapped key does not decrypt: it was not made for this request")
	}
	return key, nil
}
