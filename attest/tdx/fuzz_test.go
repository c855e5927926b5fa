package tdx

import (
	"crypto/x509"
	"errors"
	"testing"

	"donjon.dev/attest/tdx/tdxtest"
)

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, and must return either claims
// or an error wrapping one of the package's sentinels. The seeds (the real quote, a fake one,
// their prefixes) let the fuzzer reach the signature checks and go-tdx-guest's parser.
func FuzzVerify(f *testing.F) {
	realQuote := readEvidence(f, "tdx/spr-e4-quote.dat")
	signer, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		f.Fatal(err)
	}
	fake, err := signer.Quote(tdxtest.Quote{TDAttributes: [8]byte{tdxtest.AttributeDebug}})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{realQuote, fake, realQuote[:636], realQuote[:1300], fake[:len(fake)-1], {}, {4, 0, 2, 0, 0x81, 0, 0, 0}} {
		f.Add(seed)
	}
	roots := []*x509.Certificate{signer.Root}
	intel, err := IntelSGXRootCA()
	if err != nil {
		f.Fatal(err)
	}
	roots = append(roots, intel)
	f.Fuzz(func(t *testing.T, quote []byte) {
		claims, err := Verify(quote, Options{Now: sprNow, Roots: roots})
		if err == nil {
			if claims == nil || len(claims.ReportData) != 64 || len(claims.MRTD) != 48 {
				t.Fatalf("accepted quote with incomplete claims: %+v", claims)
			}
			_ = Check(claims, Policy{})
			return
		}
		if claims != nil {
			t.Fatal("claims returned with an error")
		}
		if !wrapsSentinel(err) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if errors.Is(err, ErrOptions) {
			t.Fatalf("options error for valid options: %v", err)
		}
	})
}
