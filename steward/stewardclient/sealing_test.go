package stewardclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"donjon.dev/steward/internal/sealwire"
)

// fakeSteward answers sealing key requests with answer, after checking
// the request the way the steward does (signature by the leaf's key).
type fakeSteward struct {
	t      *testing.T
	caKey  *ecdsa.PrivateKey
	key    []byte
	path   string
	answer func(req sealingRequest, genuine sealingResponse) (int, []byte)
}

func (f *fakeSteward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.path = r.URL.Path
	body, _ := io.ReadAll(r.Body)
	var req sealingRequest
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &req) != nil {
		w.WriteHeader(400)
		return
	}
	leaf, err := x509.ParseCertificate(req.Certificate)
	if err != nil || sealwire.Verify(leaf.PublicKey, sealwire.SignedMessage(req.Purpose, req.PublicKey), req.Signature) != nil {
		f.t.Errorf("the client sent a request that does not verify (%v)", err)
		w.WriteHeader(403)
		return
	}
	point, ct, err := sealwire.Wrap(req.PublicKey, req.Purpose, f.key)
	if err != nil {
		f.t.Error(err)
	}
	sig, err := sealwire.Sign(f.caKey, sealwire.AnswerMessage(req.Purpose, req.PublicKey, point, ct))
	if err != nil {
		f.t.Error(err)
	}
	status, out := f.answer(req, sealingResponse{PublicKey: point, Ciphertext: ct, Signature: sig})
	w.WriteHeader(status)
	w.Write(out)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealingKey(t *testing.T) {
	caKey, keepKey, otherKey := p384(t), p384(t), p384(t)
	ca := cert(t, &caKey.PublicKey, nil, caKey, true)
	leaf := cert(t, &keepKey.PublicKey, ca, caKey, false)
	key := bytes.Repeat([]byte{0x5a}, 32)
	genuine := func(_ sealingRequest, g sealingResponse) (int, []byte) { return 200, marshal(t, g) }

	answers := map[string]struct {
		answer func(sealingRequest, sealingResponse) (int, []byte)
		want   string
	}{
		"ok": {genuine, ""},
		"refused": {func(sealingRequest, sealingResponse) (int, []byte) {
			return 403, []byte("sealing.certificate: the certificate is not one this steward issued\n")
		}, "refused the keep a sealing key (403): sealing.certificate: the certificate is not"},
		"not configured": {func(sealingRequest, sealingResponse) (int, []byte) {
			return 501, []byte("sealing: this steward releases no sealing keys\n")
		}, "releases no sealing keys (steward"},
		"old steward": {func(sealingRequest, sealingResponse) (int, []byte) {
			return 404, []byte("request: no such endpoint; POST a certificate request to /\n")
		}, "answered 404"},
		"server error": {func(sealingRequest, sealingResponse) (int, []byte) { return 500, []byte("boom") }, "500 Internal Server Error: boom"},
		"not JSON":     {func(sealingRequest, sealingResponse) (int, []byte) { return 200, []byte("<html>") }, "not the expected JSON"},
		"extra field": {func(_ sealingRequest, g sealingResponse) (int, []byte) {
			return 200, append(bytes.TrimSuffix(marshal(t, g), []byte("}")), []byte(`,"key":"AA=="}`)...)
		}, "not the expected JSON"},
		"two objects": {func(_ sealingRequest, g sealingResponse) (int, []byte) {
			return 200, append(marshal(t, g), marshal(t, g)...)
		}, "more after"},
		"oversized": {func(sealingRequest, sealingResponse) (int, []byte) {
			return 200, make([]byte, maxSealingResponse+1)
		}, "larger than"},
		"flipped ciphertext": {func(_ sealingRequest, g sealingResponse) (int, []byte) {
			g.Ciphertext[0] ^= 1
			return 200, marshal(t, g)
		}, "not signed by the steward's CA"},
		"no signature": {func(_ sealingRequest, g sealingResponse) (int, []byte) {
			g.Signature = nil
			return 200, marshal(t, g)
		}, "not signed by the steward's CA"},
		"signed but for another purpose": {func(req sealingRequest, g sealingResponse) (int, []byte) {
			// The steward's CA signed it, so only the AEAD catches it.
			point, ct, _ := sealwire.Wrap(req.PublicKey, "other", key)
			g.PublicKey, g.Ciphertext = point, ct
			g.Signature, _ = sealwire.Sign(caKey, sealwire.AnswerMessage(req.Purpose, req.PublicKey, point, ct))
			return 200, marshal(t, g)
		}, "does not decrypt"},
		"short ciphertext": {func(req sealingRequest, g sealingResponse) (int, []byte) {
			g.Ciphertext = g.Ciphertext[:40]
			g.Signature, _ = sealwire.Sign(caKey, sealwire.AnswerMessage(req.Purpose, req.PublicKey, g.PublicKey, g.Ciphertext))
			return 200, marshal(t, g)
		}, "want 48"},
		"point not on the curve": {func(req sealingRequest, g sealingResponse) (int, []byte) {
			g.PublicKey[len(g.PublicKey)-1] ^= 1
			g.Signature, _ = sealwire.Sign(caKey, sealwire.AnswerMessage(req.Purpose, req.PublicKey, g.PublicKey, g.Ciphertext))
			return 200, marshal(t, g)
		}, "not a P-384 point"},
	}
	for name, a := range answers {
		fake := &fakeSteward{t: t, caKey: caKey, key: key, answer: a.answer}
		srv := httptest.NewServer(fake)
		got, err := SealingKey(context.Background(), nil, srv.URL+"/steward/", ca, leaf, keepKey, "purpose")
		srv.Close()
		if fake.path != "/steward/v1/sealing-key" {
			t.Errorf("%s: posted to %q", name, fake.path)
		}
		if a.want == "" {
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("%s: key %x, %v", name, got, err)
			}
			continue
		}
		if err == nil || got != nil || !strings.Contains(err.Error(), a.want) || strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("%s: key %x, error %v; want one line containing %q", name, got, err, a.want)
		}
		switch name {
		case "refused":
			if !errors.Is(err, ErrRefused) {
				t.Errorf("%s does not wrap ErrRefused", name)
			}
		case "not configured", "old steward":
			if !errors.Is(err, ErrNoSealingKeys) {
				t.Errorf("%s does not wrap ErrNoSealingKeys", name)
			}
		}
	}

	// Mistakes of the caller, caught before anything is sent.
	otherCA := cert(t, &otherKey.PublicKey, nil, otherKey, true)
	for name, tc := range map[string]struct {
		url, purpose string
		ca           *x509.Certificate
		signer       *ecdsa.PrivateKey
		want         string
	}{
		"bad URL":        {"ftp://x", "p", ca, keepKey, "want http(s)://"},
		"empty purpose":  {"http://127.0.0.1:1", "", ca, keepKey, "purpose is empty"},
		"NUL purpose":    {"http://127.0.0.1:1", "a\x00", ca, keepKey, "NUL"},
		"invalid UTF-8":  {"http://127.0.0.1:1", "\xff", ca, keepKey, "UTF-8"},
		"long purpose":   {"http://127.0.0.1:1", strings.Repeat("x", 1025), ca, keepKey, "at most 1024"},
		"another key":    {"http://127.0.0.1:1", "p", ca, otherKey, "not the certificate's"},
		"another CA":     {"http://127.0.0.1:1", "p", otherCA, keepKey, "not issued by the CA given"},
		"no certificate": {"http://127.0.0.1:1", "p", nil, keepKey, "certify the keep"},
	} {
		if _, err := SealingKey(context.Background(), nil, tc.url, tc.ca, leaf, tc.signer, tc.purpose); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func p384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
