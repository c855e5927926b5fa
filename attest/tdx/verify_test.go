package tdx

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest/tdx/tdxtest"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyRealQuote(t *testing.T) {
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	claims, err := Verify(quote, Options{Now: sprNow})
	if err != nil {
		t.Fatalf("real SPR quote at %s: %v", sprNow, err)
	}
	want := map[string][2][]byte{
		"TEETCBSVN":    {claims.TEETCBSVN, mustHex(t, "03000400000000000000000000000000")},
		"MRSEAM":       {claims.MRSEAM, mustHex(t, "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656")},
		"TDAttributes": {claims.TDAttributes, mustHex(t, "0000004000000000")},
		"XFAM":         {claims.XFAM, mustHex(t, "e71a060000000000")},
		"MRTD":         {claims.MRTD, mustHex(t, "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb")},
		"RTMR0":        {claims.RTMR[0], mustHex(t, "2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f32a")},
		"ReportData":   {claims.ReportData, mustHex(t, "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113")},
		"FMSPC":        {claims.FMSPC, mustHex(t, "50806f000000")},
	}
	for name, pair := range want {
		if !bytes.Equal(pair[0], pair[1]) {
			t.Errorf("%s = %x, want %x", name, pair[0], pair[1])
		}
	}
	for i, r := range claims.RTMR {
		if len(r) != 48 {
			t.Errorf("RTMR%d is %d bytes", i, len(r))
		}
	}
	if claims.Debug {
		t.Error("production quote reported as debug")
	}
	if claims.TCBStatus != "" {
		t.Errorf("TCBStatus = %q without collateral, want empty", claims.TCBStatus)
	}
	if err := Check(claims, Policy{}); err != nil {
		t.Errorf("default policy rejects the production quote: %v", err)
	}
	// Claims are copies: changing them must not change a second verification.
	claims.MRTD[0] ^= 0xff
	again, err := Verify(quote, Options{Now: sprNow})
	if err != nil || bytes.Equal(again.MRTD, claims.MRTD) {
		t.Errorf("claims alias the quote or verification is not repeatable: %v", err)
	}
}

func TestIntelRootMatchesEnarxCopy(t *testing.T) {
	enarxRoot, err := x509.ParseCertificate(readEvidence(t, "enarx/sgx-root.der"))
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := IntelSGXRootCA()
	if err != nil {
		t.Fatal(err)
	}
	if !embedded.Equal(enarxRoot) {
		t.Fatal("embedded Intel SGX Root CA differs from evidence/enarx/sgx-root.der")
	}
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	if _, err := Verify(quote, Options{Now: sprNow, Roots: []*x509.Certificate{enarxRoot}}); err != nil {
		t.Fatalf("with the Enarx copy of the Intel root as anchor: %v", err)
	}
}

// signedEnd returns the offset just after the signed data of a quote v4.
func signedEnd(t testing.TB, quote []byte) int {
	t.Helper()
	return signedStart + int(binary.LittleEndian.Uint32(quote[headerSize+bodySize:signedStart]))
}

// checkEveryFlip flips every byte from 0 to the end of the signed data (header, TD report body,
// signature, attestation key, QE report, its signature, QE auth data, PCK chain, size fields)
// with three masks, and demands that each flipped quote be rejected with a sentinel error.
func checkEveryFlip(t *testing.T, quote []byte, opts Options) {
	t.Helper()
	end := signedEnd(t, quote)
	authLen := int(binary.LittleEndian.Uint16(quote[1218:1220]))
	certStart := 1220 + authLen + 6 // after the cert data type and size
	regions := []struct {
		name       string
		start, end int
		want       error // nil: any sentinel
	}{
		{"header", 0, headerSize, nil},
		{"TD report body", headerSize, headerSize + bodySize, ErrBadSignature},
		{"quote signature", 636, 700, ErrBadSignature},
		{"attestation key", 700, 764, nil},
		{"QE report", 770, 1154, ErrBadSignature},
		{"QE report signature", 1154, 1218, ErrBadSignature},
		{"QE auth data", 1220, 1220 + authLen, ErrBadSignature},
		{"everything else signed", 0, end, nil},
	}
	for _, region := range regions {
		tested := 0
		for i := region.start; i < region.end; i++ {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				flipped := bytes.Clone(quote)
				flipped[i] ^= mask
				_, err := Verify(flipped, opts)
				if err == nil && i >= certStart && sameCertChain(quote[certStart:], flipped[certStart:]) {
					// The flip hit base64 padding bits of the PEM chain:
					// the certificates decode to the very same DER.
					continue
				}
				if err == nil {
					t.Fatalf("%s: flip %#02x at offset %d accepted", region.name, mask, i)
				}
				if region.want != nil && !errors.Is(err, region.want) {
					t.Fatalf("%s: flip at offset %d: got %v, want %v", region.name, i, err, region.want)
				}
				if !wrapsSentinel(err) {
					t.Fatalf("%s: flip at offset %d: error wraps no sentinel: %v", region.name, i, err)
				}
				tested++
			}
		}
		if tested == 0 {
			t.Fatalf("%s: empty region", region.name)
		}
	}
}

// sameCertChain tells whether two PEM certificate chains decode to the
// same DER certificates.
func sameCertChain(a, b []byte) bool {
	for {
		var ba, bb *pem.Block
		ba, a = pem.Decode(a)
		bb, b = pem.Decode(b)
		if ba == nil || bb == nil {
			return ba == nil && bb == nil
		}
		if !bytes.Equal(ba.Bytes, bb.Bytes) {
			return false
		}
	}
}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func TestRealQuoteEveryFlipFails(t *testing.T) {
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	checkEveryFlip(t, quote, Options{Now: sprNow})

	// The sample carries unsigned bytes after the signed data (go-tdx-guest's "extra bytes");
	// they are ignored, and must not change the claims.
	end := signedEnd(t, quote)
	if end >= len(quote) {
		t.Fatal("expected trailing unsigned bytes in the sample")
	}
	base, err := Verify(quote, Options{Now: sprNow})
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(quote)
	for i := end; i < len(flipped); i++ {
		flipped[i] ^= 0xff
	}
	got, err := Verify(flipped, Options{Now: sprNow})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(base) {
		t.Fatalf("trailing unsigned bytes changed the result: %v", err)
	}
}

func TestRealQuoteWrongClock(t *testing.T) {
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	for _, now := range []time.Time{
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), // before every certificate
		time.Date(2070, 1, 1, 0, 0, 0, 0, time.UTC), // after every certificate
	} {
		_, err := Verify(quote, Options{Now: now})
		wantErr(t, err, ErrExpired)
	}
	_, err := Verify(quote, Options{})
	wantErr(t, err, ErrOptions)
}

func TestRealQuoteWrongRoot(t *testing.T) {
	signer, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	_, err = Verify(quote, Options{Now: sprNow, Roots: []*x509.Certificate{signer.Root}})
	wantErr(t, err, ErrUntrustedChain)
}

func TestRealQuoteCollateral(t *testing.T) {
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")

	// The evidence README: this TCB info has no level matching the quote. A full appraisal
	// must say exactly that.
	_, err := Verify(quote, Options{Now: sprNow, Collateral: sprCollateral(t)})
	wantErr(t, err, ErrTCB)
	if !strings.Contains(err.Error(), "no matching TCB level") {
		t.Fatalf("TCB appraisal error does not name the missing level: %v", err)
	}

	t.Run("CRLs only", func(t *testing.T) {
		c := sprCollateral(t)
		c.TCBInfo, c.QEIdentity = nil, nil
		claims, err := Verify(quote, Options{Now: sprNow, Collateral: c})
		if err != nil {
			t.Fatalf("valid CRLs: %v", err)
		}
		if claims.TCBStatus != "" {
			t.Errorf("TCBStatus = %q without TCB info", claims.TCBStatus)
		}
	})
	t.Run("PCK CRL expired", func(t *testing.T) {
		c := sprCollateral(t)
		c.TCBInfo, c.QEIdentity = nil, nil
		_, err := Verify(quote, Options{Now: time.Date(2023, 8, 1, 0, 0, 0, 0, time.UTC), Collateral: c})
		wantErr(t, err, ErrExpired)
		wantErr(t, err, ErrCollateral)
	})
	t.Run("CRLs swapped", func(t *testing.T) {
		c := sprCollateral(t)
		c.TCBInfo, c.QEIdentity = nil, nil
		c.PCKCRL, c.RootCRL = c.RootCRL, c.PCKCRL
		_, err := Verify(quote, Options{Now: sprNow, Collateral: c})
		wantErr(t, err, ErrCollateral)
	})
	t.Run("QE identity expired", func(t *testing.T) {
		// 2023-07-10: PCK CRL and QE identity (next update 07-08) are stale.
		c := sprCollateral(t)
		c.PCKCRL = nil
		_, err := Verify(quote, Options{Now: time.Date(2023, 7, 10, 0, 0, 0, 0, time.UTC), Collateral: c})
		wantErr(t, err, ErrExpired)
	})
	t.Run("TCB info tampered", func(t *testing.T) {
		c := sprCollateral(t)
		c.TCBInfo = bytes.Replace(c.TCBInfo, []byte(`"tcbEvaluationDataNumber":15`), []byte(`"tcbEvaluationDataNumber":16`), 1)
		_, err := Verify(quote, Options{Now: sprNow, Collateral: c})
		wantErr(t, err, ErrCollateral)
		wantErr(t, err, ErrBadSignature)
	})
	t.Run("QE identity without TCB info", func(t *testing.T) {
		c := sprCollateral(t)
		c.TCBInfo = nil
		_, err := Verify(quote, Options{Now: sprNow, Collateral: c})
		wantErr(t, err, ErrCollateral)
	})
	t.Run("no TCB signing chain", func(t *testing.T) {
		c := sprCollateral(t)
		c.TCBSigningChain = nil
		_, err := Verify(quote, Options{Now: sprNow, Collateral: c})
		wantErr(t, err, ErrCollateral)
	})
	t.Run("not JSON", func(t *testing.T) {
		c := sprCollateral(t)
		c.QEIdentity = []byte("{")
		_, err := Verify(quote, Options{Now: sprNow, Collateral: c})
		wantErr(t, err, ErrCollateral)
	})
}

func TestTruncatedQuotesFail(t *testing.T) {
	quote := readEvidence(t, "tdx/spr-e4-quote.dat")
	end := signedEnd(t, quote)
	for n := 0; n < end; n++ {
		_, err := Verify(quote[:n], Options{Now: sprNow})
		wantErr(t, err, ErrMalformed)
	}
}

func TestFakeSignerRoundTrip(t *testing.T) {
	signer, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in := tdxtest.Quote{TEETCBSVN: [16]byte{3, 0, 4}, XFAM: [8]byte{0xe7, 0x1a, 0x06}}
	copy(in.MRTD[:], bytes.Repeat([]byte{0x4d}, 48))
	copy(in.MRSEAM[:], bytes.Repeat([]byte{0x5e}, 48))
	copy(in.ReportData[:], "donjon report data")
	for i := range in.RTMR {
		in.RTMR[i][0] = byte(i + 1)
	}
	quote, err := signer.Quote(in)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := Options{Now: now, Roots: []*x509.Certificate{signer.Root}}
	claims, err := Verify(quote, opts)
	if err != nil {
		t.Fatalf("fake quote with its own root: %v", err)
	}
	checks := []struct {
		name      string
		got, want []byte
	}{
		{"MRTD", claims.MRTD, in.MRTD[:]},
		{"MRSEAM", claims.MRSEAM, in.MRSEAM[:]},
		{"ReportData", claims.ReportData, in.ReportData[:]},
		{"TEETCBSVN", claims.TEETCBSVN, in.TEETCBSVN[:]},
		{"XFAM", claims.XFAM, in.XFAM[:]},
		{"TDAttributes", claims.TDAttributes, in.TDAttributes[:]},
		{"FMSPC", claims.FMSPC, tdxtest.DefaultFMSPC[:]},
	}
	for i := range in.RTMR {
		checks = append(checks, struct {
			name      string
			got, want []byte
		}{fmt.Sprintf("RTMR%d", i), claims.RTMR[i], in.RTMR[i][:]})
	}
	for _, c := range checks {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}
	if claims.Debug {
		t.Error("non-debug fake quote reported as debug")
	}

	_, err = Verify(quote, Options{Now: now})
	wantErr(t, err, ErrUntrustedChain)

	_, err = Verify(quote, Options{Now: time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC), Roots: opts.Roots})
	wantErr(t, err, ErrExpired)

	checkEveryFlip(t, quote, opts)
}

func TestFakeSignerOtherSignersRootRejected(t *testing.T) {
	a, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	quote, err := a.Quote(tdxtest.Quote{})
	if err != nil {
		t.Fatal(err)
	}
	// Same names, different keys: the anchor is the key, not the name.
	_, err = Verify(quote, Options{Now: sprNow, Roots: []*x509.Certificate{b.Root}})
	wantErr(t, err, ErrUntrustedChain)
}

func TestFakeSignerCRLs(t *testing.T) {
	signer, err := tdxtest.New(tdxtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	quote, err := signer.Quote(tdxtest.Quote{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := func(c *Collateral) Options {
		return Options{Now: now, Roots: []*x509.Certificate{signer.Root}, Collateral: c}
	}
	mustCRL := func(der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	day := 24 * time.Hour
	cleanPCK := mustCRL(signer.PCKCRL(now.Add(-day)))
	cleanRoot := mustCRL(signer.RootCRL(now.Add(-day)))

	if _, err := Verify(quote, opts(&Collateral{PCKCRL: cleanPCK, RootCRL: cleanRoot})); err != nil {
		t.Fatalf("clean CRLs: %v", err)
	}
	_, err = Verify(quote, opts(&Collateral{PCKCRL: mustCRL(signer.PCKCRL(now.Add(-day), signer.PCK))}))
	wantErr(t, err, ErrRevoked)
	_, err = Verify(quote, opts(&Collateral{RootCRL: mustCRL(signer.RootCRL(now.Add(-day), signer.Intermediate))}))
	wantErr(t, err, ErrRevoked)
	_, err = Verify(quote, opts(&Collateral{PCKCRL: mustCRL(signer.PCKCRL(now.Add(-60 * day)))}))
	wantErr(t, err, ErrExpired)
	_, err = Verify(quote, opts(&Collateral{RootCRL: mustCRL(signer.RootCRL(now.Add(day)))}))
	wantErr(t, err, ErrExpired)
	// A CRL issued by someone else (here Intel's real PCK CRL) is foreign collateral.
	_, err = Verify(quote, opts(&Collateral{PCKCRL: readEvidence(t, "tdx/pckcrl.der")}))
	wantErr(t, err, ErrCollateral)
	// A CRL whose signature was altered.
	bad := bytes.Clone(cleanPCK)
	bad[len(bad)-5] ^= 0x01
	_, err = Verify(quote, opts(&Collateral{PCKCRL: bad}))
	wantErr(t, err, ErrCollateral)
}
