package steward_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest/policy"
	"donjon.dev/identity"
	"donjon.dev/steward"
	"donjon.dev/steward/internal/sealwire"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
)

// FuzzSealingKeyRequest sends arbitrary bodies to POST /v1/sealing-key of a
// steward with a sealing secret, and feeds them to ParseSealingKeyRequest.
// The steward must answer only 200, 400, 403 or 413, never 500; a refusal
// is exactly one line; what the parser accepts has a valid purpose and
// point; a 200 is a key wrapped for the request's point under the purpose,
// signed by the steward's CA.
func FuzzSealingKeyRequest(f *testing.F) {
	at := time.Date(2026, 1, 3, 4, 5, 6, 0, time.UTC)
	dir := f.TempDir()
	ca, _, err := steward.LoadOrCreateCA(dir, "fuzz steward CA", at.Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	secret, _, err := steward.LoadOrCreateSealingSecret(dir)
	if err != nil {
		f.Fatal(err)
	}
	lg, err := steward.OpenLog(context.Background(), filepath.Join(dir, steward.LogFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { lg.Close() })
	pol, err := policy.Parse([]byte("platforms = [\"nil\"]\n[workload]\nany_module = true\n"), "fuzz.toml")
	if err != nil {
		f.Fatal(err)
	}
	s, err := steward.New(steward.Config{CA: ca, Policy: pol, Log: lg, SealingSecret: secret, Now: func() time.Time { return at }})
	if err != nil {
		f.Fatal(err)
	}
	handler := s.Handler()

	// A keep certified by this steward, and requests it signed.
	id, err := identity.New(context.Background(), tee.NilPlatform{}, sha256.Sum256([]byte("module")), sha256.Sum256([]byte("config")))
	if err != nil {
		f.Fatal(err)
	}
	csr, err := id.CSR()
	if err != nil {
		f.Fatal(err)
	}
	path, _, err := s.Issue(context.Background(), csr, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	chain, err := stewardclient.ParsePkiPath(path)
	if err != nil {
		f.Fatal(err)
	}
	leaf := chain[1]
	for _, purpose := range []string{"p", "donjon.dev/keep sealed directory v1 module=00 guest=/data", strings.Repeat("é", steward.MaxSealingPurpose/2)} {
		eph, err := ecdh.P384().GenerateKey(rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		sig, err := sealwire.Sign(id.Signer(), sealwire.SignedMessage(purpose, eph.PublicKey().Bytes()))
		if err != nil {
			f.Fatal(err)
		}
		body, err := json.Marshal(steward.SealingKeyRequest{Certificate: leaf.Raw, Purpose: purpose, PublicKey: eph.PublicKey().Bytes(), Signature: sig})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		f.Add(body[:len(body)-1])
		f.Add(bytes.Replace(body, []byte(`"p"`), []byte(`"q"`), 1))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"certificate":null,"purpose":"","public_key":"","signature":""}`))
	f.Add([]byte(`{"purpose":"\u0000"}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte("{\"purpose\":\"\xff\"}"))
	f.Add(make([]byte, steward.MaxSealingRequest+1))
	allowed := []int{http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge}

	f.Fuzz(func(t *testing.T, body []byte) {
		if r, err := steward.ParseSealingKeyRequest(body); err == nil {
			if sealwire.CheckPurpose(r.Purpose) != nil || len(r.PublicKey) != sealwire.PointSize || len(r.Certificate) == 0 || len(r.Signature) == 0 {
				t.Fatalf("the parser accepted %+v", r)
			}
		} else if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("parser error is not one line: %q", msg)
		}

		req := httptest.NewRequest(http.MethodPost, steward.SealingKeyPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", steward.ContentTypeJSON)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		answer := rec.Body.Bytes()
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("answered %d: %q", rec.Code, answer)
		}
		if rec.Code != http.StatusOK {
			line := string(answer)
			if !strings.HasSuffix(line, "\n") || strings.ContainsAny(strings.TrimSuffix(line, "\n"), "\r\n") || strings.TrimSpace(line) == "" {
				t.Fatalf("refusal %d is not exactly one line: %q", rec.Code, line)
			}
			return
		}
		r, err := steward.ParseSealingKeyRequest(body)
		if err != nil {
			t.Fatalf("released a key for a request the parser refuses: %v", err)
		}
		var resp steward.SealingKeyResponse
		if err := json.Unmarshal(answer, &resp); err != nil {
			t.Fatalf("200 with a body that is not the answer: %v", err)
		}
		if len(resp.PublicKey) != sealwire.PointSize || len(resp.Ciphertext) != sealwire.CiphertextSize {
			t.Fatalf("answer of %d and %d bytes", len(resp.PublicKey), len(resp.Ciphertext))
		}
		if err := sealwire.Verify(ca.Cert.PublicKey, sealwire.AnswerMessage(r.Purpose, r.PublicKey, resp.PublicKey, resp.Ciphertext), resp.Signature); err != nil {
			t.Fatalf("the answer is not signed by the CA for this request: %v", err)
		}
		// The signed part: an ECDSA signature has two valid encodings.
		if cert, err := x509.ParseCertificate(r.Certificate); err != nil || !bytes.Equal(cert.RawTBSCertificate, leaf.RawTBSCertificate) {
			t.Fatalf("released a key for another certificate than the keep's (%v)", err)
		}
	})
}
