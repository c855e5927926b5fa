package stewardclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func cert(t *testing.T, subject *ecdsa.PublicKey, issuer *x509.Certificate, signer *ecdsa.PrivateKey, ca bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if issuer == nil {
		issuer = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, subject, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func pkiPath(t *testing.T, certs ...*x509.Certificate) []byte {
	var raw []asn1.RawValue
	for _, c := range certs {
		raw = append(raw, asn1.RawValue{FullBytes: c.Raw})
	}
	der, err := asn1.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRequest(t *testing.T) {
	keepKey, caKey, otherKey := key(t), key(t), key(t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, keepKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := cert(t, &caKey.PublicKey, nil, caKey, true)
	good := pkiPath(t, ca, cert(t, &keepKey.PublicKey, ca, caKey, false))
	answers := map[string]struct {
		status int
		body   []byte
		want   string
	}{
		"ok":             {200, good, ""},
		"refused":        {403, []byte("debug: the TEE runs in debug mode\n"), "refused the keep (403): debug: the TEE"},
		"bad request":    {400, []byte("request: no evidence"), "refused the keep (400)"},
		"server error":   {500, []byte("boom"), "500 Internal Server Error: boom"},
		"not a pkipath":  {200, []byte("<html>"), "not a DER PkiPath"},
		"other key":      {200, pkiPath(t, ca, cert(t, &otherKey.PublicKey, ca, caKey, false)), "another key"},
		"wrong signer":   {200, pkiPath(t, cert(t, &otherKey.PublicKey, nil, otherKey, true), cert(t, &keepKey.PublicKey, ca, caKey, false)), "not signed"},
		"empty path":     {200, []byte{0x30, 0x00}, "1 to 8"},
		"oversized":      {200, make([]byte, maxResponse+10), "larger than"},
		"trailing bytes": {200, append(append([]byte{}, good...), 0), "not a PkiPath"},
	}
	for name, a := range answers {
		var gotType string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotType = r.Header.Get("Content-Type")
			w.WriteHeader(a.status)
			w.Write(a.body)
		}))
		chain, err := Request(context.Background(), nil, srv.URL, csr)
		srv.Close()
		if gotType != "application/pkcs10" {
			t.Errorf("%s: sent Content-Type %q", name, gotType)
		}
		if a.want == "" {
			if err != nil || len(chain) != 2 {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), a.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, a.want)
		}
	}
	for _, bad := range []string{"ftp://x", "steward.example.com", "http://"} {
		if _, err := Request(context.Background(), nil, bad, csr); err == nil || !strings.Contains(err.Error(), "want http(s)://") {
			t.Errorf("URL %q: %v", bad, err)
		}
	}
	// A steward that never answers does not hold the keep past its context.
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Request(ctx, nil, srv.URL, csr); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("hanging steward: %v", err)
	}
}
