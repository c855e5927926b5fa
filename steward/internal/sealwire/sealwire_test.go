package sealwire

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

// The signed messages are a protocol: these pin their documented layout.
func TestMessageLayout(t *testing.T) {
	got := SignedMessage("ab", []byte{1, 2, 3})
	want := "donjon steward sealing key request v1\x00" + "\x00\x00\x00\x02ab" + "\x00\x00\x00\x03\x01\x02\x03"
	if string(got) != want {
		t.Fatalf("SignedMessage %q, want %q", got, want)
	}
	got = AnswerMessage("p", []byte{1}, []byte{2, 2}, []byte{3})
	want = "donjon steward sealing key answer v1\x00" + "\x00\x00\x00\x01p" + "\x00\x00\x00\x01\x01" + "\x00\x00\x00\x02\x02\x02" + "\x00\x00\x00\x01\x03"
	if string(got) != want {
		t.Fatalf("AnswerMessage %q, want %q", got, want)
	}
	// Length prefixes keep the fields apart.
	if bytes.Equal(SignedMessage("a", []byte("bc")), SignedMessage("ab", []byte("c"))) {
		t.Fatal("purpose and key run into each other")
	}
}

func TestWrapUnwrap(t *testing.T) {
	keep, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{9}, KeySize)
	point, ct, err := Wrap(keep.PublicKey().Bytes(), "p", key)
	if err != nil || len(point) != PointSize || len(ct) != CiphertextSize {
		t.Fatalf("Wrap: %d, %d bytes, %v", len(point), len(ct), err)
	}
	if bytes.Contains(ct, key[:8]) {
		t.Fatal("the key shows in the ciphertext")
	}
	got, err := Unwrap(keep, point, "p", ct)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap: %x, %v", got, err)
	}
	other, _ := ecdh.P384().GenerateKey(rand.Reader)
	if _, err := Unwrap(other, point, "p", ct); err == nil {
		t.Fatal("another keep's key unwraps it")
	}
	if _, err := Unwrap(keep, point, "q", ct); err == nil {
		t.Fatal("it unwraps under another purpose")
	}
	again, ct2, _ := Wrap(keep.PublicKey().Bytes(), "p", key)
	if bytes.Equal(again, point) || bytes.Equal(ct2, ct) {
		t.Fatal("two wraps share an ephemeral key")
	}
	for name, p := range map[string][]byte{
		"empty":      nil,
		"compressed": elliptic.MarshalCompressed(elliptic.P384(), elliptic.P384().Params().Gx, elliptic.P384().Params().Gy),
		"infinity":   append([]byte{4}, make([]byte, 96)...),
		"P-256":      func() []byte { k, _ := ecdh.P256().GenerateKey(rand.Reader); return k.PublicKey().Bytes() }(),
	} {
		if _, err := ParsePoint(p); err == nil {
			t.Errorf("ParsePoint accepted %s", name)
		}
	}
}

func TestSignVerify(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("message")
	for _, k := range []crypto.Signer{ec, rk, ed} {
		sig, err := Sign(k, msg)
		if err != nil {
			t.Fatalf("%T: %v", k, err)
		}
		if err := Verify(k.Public(), msg, sig); err != nil {
			t.Errorf("%T: %v", k, err)
		}
		if err := Verify(k.Public(), []byte("other"), sig); err == nil {
			t.Errorf("%T: a signature verifies for another message", k)
		}
	}
	sum := SignedMessage("p", []byte{1})
	// A keep's ECDSA signature is ASN.1 over SHA-384 of the message, as
	// documented, so a client need not use this package.
	sig, _ := Sign(ec, sum)
	if !ecdsa.VerifyASN1(&ec.PublicKey, sha384(sum), sig) {
		t.Fatal("the ECDSA signature is not ASN.1 over SHA-384")
	}
	if err := CheckPurpose(strings.Repeat("é", MaxPurpose/2)); err != nil {
		t.Fatal(err)
	}
}

func sha384(b []byte) []byte {
	h := crypto.SHA384.New()
	h.Write(b)
	return h.Sum(nil)
}
