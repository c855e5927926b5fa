package stewardclient

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"donjon.dev/internal/testevidence"
	"encoding/asn1"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParsePkiPath feeds arbitrary answers to ParsePkiPath, as a hostile
// steward could send. It must never panic, fail with one line, and what it
// accepts must be 1 to maxChain certificates that are, byte for byte, the
// answer.
func FuzzParsePkiPath(f *testing.F) {
	path := fuzzStewardPath(f)
	f.Add(path)
	f.Add(path[:len(path)-1])
	f.Add(append(bytes.Clone(path), 0))
	for _, name := range []string{"milan.pkipath", "genoa.pkipath"} {
		f.Add(fuzzEvidence(f, filepath.Join("enarx", name)))
	}
	// One certificate too many.
	var certs []asn1.RawValue
	if _, err := asn1.Unmarshal(path, &certs); err != nil {
		f.Fatal(err)
	}
	var raws []asn1.RawValue
	for range maxChain + 1 {
		raws = append(raws, certs[0])
	}
	tooMany, err := asn1.Marshal(raws)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tooMany)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x31, 0x00})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		chain, err := ParsePkiPath(der)
		if err != nil {
			if chain != nil {
				t.Fatal("certificates returned with an error")
			}
			if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one non-empty line: %q", msg)
			}
			return
		}
		if len(chain) == 0 || len(chain) > maxChain {
			t.Fatalf("accepted a PkiPath of %d certificates", len(chain))
		}
		var again []asn1.RawValue
		for _, c := range chain {
			if c == nil {
				t.Fatal("a nil certificate in the chain")
			}
			again = append(again, asn1.RawValue{FullBytes: c.Raw})
		}
		out, err := asn1.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, der) {
			t.Fatalf("the certificates are not the answer's:\n in %x\nout %x", der, out)
		}
	})
}

// fuzzStewardPath is a PkiPath shaped as a steward's answer: a CA, then a
// keep certificate it issued.
func fuzzStewardPath(tb testing.TB) []byte {
	tb.Helper()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	caKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keepKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz steward CA"},
		NotBefore: at, NotAfter: at.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	keepTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "donjon keep (snp)"},
		NotBefore: at, NotAfter: at.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	keepDER, err := x509.CreateCertificate(rand.Reader, keepTmpl, ca, &keepKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	path, err := asn1.Marshal([]asn1.RawValue{{FullBytes: caDER}, {FullBytes: keepDER}})
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// fuzzEvidence reads a file of shared/testdata/evidence, found above the
// package.
func fuzzEvidence(tb testing.TB, name string) []byte {
	tb.Helper()
	return testevidence.Read(tb, name)
}
