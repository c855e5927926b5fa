package sgx

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, and must return either
// complete claims or an error wrapping one of the package's sentinels. The seeds (both real
// quotes, a fake one, prefixes) let the fuzzer reach the signature and collateral checks.
func FuzzVerify(f *testing.F) {
	oasis := readEvidence(f, "sgx/quote-v3-pck-chain.bin")
	_, ext := enarxCSR(f)
	enarx, crls, tcb, err := ParseEnarxEvidence(ext)
	if err != nil {
		f.Fatal(err)
	}
	pki := newFakePKI(f, fakeConfig{})
	fake := pki.quote(f, fakeQuote{attributes: [16]byte{0x07}})
	for _, seed := range [][]byte{oasis, enarx, fake, oasis[:sigDataStart], oasis[:offAuthLen+40], fake[:len(fake)-2], {}, {3, 0, 2, 0, 0, 0, 0, 0}} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
	}
	intel := readEvidence(f, "enarx/sgx-root.der")
	intelRoot, err := x509.ParseCertificate(intel)
	if err != nil {
		f.Fatal(err)
	}
	oasisCol, fakeCol := oasisCollateral(f), &Collateral{
		TCBInfo:         pki.tcbInfo(f, []fakeLevel{{status: StatusUpToDate}}, fakeNow.Add(-time.Hour), fakeNow.Add(time.Hour)),
		TCBSigningChain: []*x509.Certificate{pki.tcbSigner},
	}
	roots := []*x509.Certificate{pki.root, intelRoot}
	f.Fuzz(func(t *testing.T, quote []byte, setting uint8) {
		// setting picks the clock and collateral of one of the seeds, so flips of each reach
		// the deepest checks.
		opts := []Options{
			{Now: oasisNow, Roots: roots},
			{Now: oasisNow, Roots: roots, Collateral: oasisCol},
			{Now: enarxNow, Roots: roots, CRLs: crls, Collateral: tcb},
			{Now: fakeNow, Roots: roots, Collateral: fakeCol},
		}[int(setting)%4]
		claims, err := Verify(quote, opts)
		if err == nil {
			if claims == nil || len(claims.ReportData) != 64 || len(claims.MRENCLAVE) != 32 || len(claims.FMSPC) != 6 {
				t.Fatalf("accepted quote with incomplete claims: %+v", claims)
			}
			if (opts.Collateral != nil) != (claims.TCBStatus != "") {
				t.Fatalf("TCB status %q with collateral %v", claims.TCBStatus, opts.Collateral != nil)
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

// FuzzParseEnarxEvidence feeds arbitrary bytes to the Enarx extension parser, and what it
// accepts to Verify: neither may panic, and errors must wrap a sentinel.
func FuzzParseEnarxEvidence(f *testing.F) {
	_, ext := enarxCSR(f)
	f.Add(ext)
	f.Add(ext[:200])
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x0c, 0x04, 0x00, 0x30, 0x02, 0x30, 0x00, 0x30, 0x04, 0x30, 0x00, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		quote, crls, tcb, err := ParseEnarxEvidence(der)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if quote != nil || crls != nil || tcb != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		if len(quote) == 0 || len(crls) > maxEnarxCRLs || (tcb != nil && (len(tcb.TCBInfo) == 0 || len(tcb.TCBSigningChain) == 0)) {
			t.Fatalf("accepted incomplete evidence: quote %d bytes, %d CRLs, collateral %v", len(quote), len(crls), tcb)
		}
		if _, err := Verify(quote, Options{Now: enarxNow, CRLs: crls, Collateral: tcb}); err != nil && !wrapsSentinel(err) {
			t.Fatalf("Verify error wraps no sentinel: %v", err)
		}
	})
}
