package sgx

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"donjon.dev/attest/tdx"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalBytes(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", name, got, want)
	}
}

// collateralLevel finds, in raw PCS TCB info, the level whose TCB equals tcb exactly, so a
// test can read the expected status from the collateral rather than from our matcher.
func collateralLevel(t *testing.T, raw []byte, tcb PCKTCB) (status string, advisories []string) {
	t.Helper()
	var doc struct {
		TCBInfo struct {
			TCBLevels []struct {
				TCB struct {
					Comps []struct {
						SVN int `json:"svn"`
					} `json:"sgxtcbcomponents"`
					PCESVN int `json:"pcesvn"`
				} `json:"tcb"`
				TCBStatus   string   `json:"tcbStatus"`
				AdvisoryIDs []string `json:"advisoryIDs"`
			} `json:"tcbLevels"`
		} `json:"tcbInfo"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, l := range doc.TCBInfo.TCBLevels {
		same := l.TCB.PCESVN == int(tcb.PCESVN)
		for i, c := range l.TCB.Comps {
			same = same && c.SVN == int(tcb.Components[i])
		}
		if same {
			return l.TCBStatus, l.AdvisoryIDs
		}
	}
	t.Fatalf("no level of the collateral equals TCB %+v", tcb)
	return "", nil
}

func TestVerifyRealQuote(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	claims, err := Verify(quote, Options{Now: oasisNow})
	if err != nil {
		t.Fatalf("real SGX quote at %s: %v", oasisNow, err)
	}
	equalBytes(t, "MRENCLAVE", claims.MRENCLAVE, mustHex(t, "68823bc62f409ee33a32ea270cfe45d4b19a6fb3c8570d7bc186cbe062398e8f"))
	equalBytes(t, "MRSIGNER", claims.MRSIGNER, mustHex(t, "9affcfae47b848ec2caf1c49b4b283531e1cc425f93582b36806e52a43d78d1a"))
	equalBytes(t, "ReportData", claims.ReportData[:32], mustHex(t, "026a69ced96c3e0295d16d6b388e057a137a14319671662a5844c7472f3c62ae"))
	equalBytes(t, "Attributes", claims.Attributes, mustHex(t, "05000000000000000300000000000000"))
	equalBytes(t, "CPUSVN", claims.CPUSVN, mustHex(t, "08090e0dffff01000000000000000000"))
	equalBytes(t, "FMSPC", claims.FMSPC, mustHex(t, "00606a000000"))
	equalBytes(t, "PCEID", claims.PCEID, []byte{0, 0})
	equalBytes(t, "PCK TCB components", claims.PCKTCB.Components[:], mustHex(t, "07090303ffff01000000000000000000"))
	if claims.PCESVN != 13 || claims.QESVN != 9 || claims.PCKTCB.PCESVN != 13 {
		t.Errorf("PCESVN %d, QESVN %d, PCK PCESVN %d; want 13, 9, 13", claims.PCESVN, claims.QESVN, claims.PCKTCB.PCESVN)
	}
	if claims.Debug || claims.ISVProdID != 0 || claims.ISVSVN != 0 {
		t.Errorf("debug %v, ISVPRODID %d, ISVSVN %d; want false, 0, 0", claims.Debug, claims.ISVProdID, claims.ISVSVN)
	}
	if claims.TCBStatus != "" || claims.QEStatus != "" || claims.AdvisoryIDs != nil {
		t.Errorf("TCB appraisal without collateral: %q %q %v", claims.TCBStatus, claims.QEStatus, claims.AdvisoryIDs)
	}
	// Claims are copies: changing them must not change a second verification.
	claims.MRENCLAVE[0] ^= 0xff
	again, err := Verify(quote, Options{Now: oasisNow})
	if err != nil || bytes.Equal(again.MRENCLAVE, claims.MRENCLAVE) {
		t.Errorf("claims alias the quote or verification is not repeatable: %v", err)
	}
}

func TestVerifyRealQuoteWithCollateral(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	col := oasisCollateral(t)
	claims, err := Verify(quote, Options{Now: oasisNow, Collateral: col})
	if err != nil {
		t.Fatalf("real SGX quote with its collateral at %s: %v", oasisNow, err)
	}
	// The PCK certificate's TCB equals one level of the TCB info exactly; the QE (ISVSVN 9) is
	// above the QE identity's top level (6, UpToDate), so the platform level decides.
	wantStatus, wantAdvisories := collateralLevel(t, col.TCBInfo, claims.PCKTCB)
	if wantStatus != StatusSWHardeningNeeded {
		t.Fatalf("collateral says %q; this test expects the captured SWHardeningNeeded level", wantStatus)
	}
	if claims.TCBStatus != wantStatus || !slices.Equal(claims.AdvisoryIDs, wantAdvisories) {
		t.Errorf("TCB status %q %v, collateral says %q %v", claims.TCBStatus, claims.AdvisoryIDs, wantStatus, wantAdvisories)
	}
	if claims.QEStatus != StatusUpToDate {
		t.Errorf("QE status %q, want UpToDate", claims.QEStatus)
	}
	if want := time.Date(2022, 8, 10, 0, 0, 0, 0, time.UTC); !claims.TCBDate.Equal(want) {
		t.Errorf("TCB date %s, want %s", claims.TCBDate, want)
	}
	// The default policy wants UpToDate; allowing SWHardeningNeeded accepts.
	wantRule(t, Check(claims, Policy{}), RuleTCBStatus)
	if err := Check(claims, Policy{AllowedTCBStatus: []string{StatusUpToDate, StatusSWHardeningNeeded}}); err != nil {
		t.Errorf("policy allowing SWHardeningNeeded: %v", err)
	}
}

func TestVerifyRealEnarxCSR(t *testing.T) {
	csr, ext := enarxCSR(t)
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	quote, crls, tcb, err := ParseEnarxEvidence(ext)
	if err != nil {
		t.Fatal(err)
	}
	if len(crls) != 3 || tcb == nil || len(tcb.TCBSigningChain) != 2 || tcb.QEIdentity != nil {
		t.Fatalf("parsed %d CRLs and TCB package %+v, want 3 CRLs, a 2-certificate signing chain and no QE identity", len(crls), tcb)
	}
	claims, err := Verify(quote, Options{Now: enarxNow, CRLs: crls, Collateral: tcb})
	if err != nil {
		t.Fatalf("Enarx SGX evidence at %s: %v", enarxNow, err)
	}
	if err := EnarxBinding(csr, claims); err != nil {
		t.Fatal(err)
	}
	wantStatus, wantAdvisories := collateralLevel(t, tcb.TCBInfo, claims.PCKTCB)
	if claims.TCBStatus != StatusOutOfDate || wantStatus != StatusOutOfDate || !slices.Equal(claims.AdvisoryIDs, wantAdvisories) {
		t.Errorf("TCB status %q %v, collateral says %q %v, evidence README says OutOfDate", claims.TCBStatus, claims.AdvisoryIDs, wantStatus, wantAdvisories)
	}
	if claims.QEStatus != "" {
		t.Errorf("QE status %q without QE identity", claims.QEStatus)
	}
	equalBytes(t, "FMSPC", claims.FMSPC, mustHex(t, "00706e470000"))
	equalBytes(t, "MRENCLAVE", claims.MRENCLAVE, mustHex(t, "4046ea255f0455131a024e1265ac1ebd131fdbd1240f1712a00381f6f04e8c15"))
	equalBytes(t, "MRSIGNER", claims.MRSIGNER, mustHex(t, "7a49a07df0f8e90a6e1d9a63e3c696d9c844f0e3f8739b21daa640f99facc48a"))
	if claims.Debug {
		t.Error("production enclave reported as debug")
	}

	// OutOfDate is acceptable only where the policy says so, and then only with its advisories.
	wantRule(t, Check(claims, Policy{}), RuleTCBStatus)
	allow := Policy{AllowedTCBStatus: []string{StatusUpToDate, StatusOutOfDate}, AllowedAdvisoryIDs: wantAdvisories, MRENCLAVE: [][]byte{claims.MRENCLAVE}}
	if err := Check(claims, allow); err != nil {
		t.Errorf("policy allowing OutOfDate and its advisories: %v", err)
	}
	allow.AllowedAdvisoryIDs = wantAdvisories[1:]
	wantRule(t, Check(claims, allow), RuleAdvisory)

	// Without its CRLs and TCB package the quote still verifies, with no TCB appraisal.
	bare, err := Verify(quote, Options{Now: enarxNow})
	if err != nil || bare.TCBStatus != "" {
		t.Fatalf("bare Enarx quote: %v, status %q", err, bare.TCBStatus)
	}
	wantRule(t, Check(bare, Policy{}), RuleTCBStatus)
	if err := Check(bare, Policy{AllowUnappraised: true}); err != nil {
		t.Errorf("policy allowing unappraised TCB: %v", err)
	}
}

func TestEnarxBindingRejectsOtherKey(t *testing.T) {
	csr, ext := enarxCSR(t)
	quote, crls, tcb, err := ParseEnarxEvidence(ext)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := Verify(quote, Options{Now: enarxNow, CRLs: crls, Collateral: tcb})
	if err != nil {
		t.Fatal(err)
	}
	other, err := x509.ParseCertificateRequest(readEvidence(t, "enarx/snp-milan.csr"))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, EnarxBinding(other, claims), ErrBinding)
	claims.ReportData[31] ^= 1
	wantErr(t, EnarxBinding(csr, claims), ErrBinding)
	wantErr(t, EnarxBinding(nil, claims), ErrBinding)
	wantErr(t, EnarxBinding(csr, nil), ErrBinding)
}

func TestIntelRootMatchesEnarxCopy(t *testing.T) {
	enarxRoot, err := x509.ParseCertificate(readEvidence(t, "enarx/sgx-root.der"))
	if err != nil {
		t.Fatal(err)
	}
	intel, err := tdx.IntelSGXRootCA()
	if err != nil {
		t.Fatal(err)
	}
	if !intel.Equal(enarxRoot) {
		t.Fatal("attest/tdx's Intel SGX Root CA differs from evidence/enarx/sgx-root.der")
	}
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	if _, err := Verify(quote, Options{Now: oasisNow, Roots: []*x509.Certificate{enarxRoot}, Collateral: oasisCollateral(t)}); err != nil {
		t.Fatalf("with the Enarx copy of the Intel root as anchor: %v", err)
	}
}

func TestWrongClock(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	col := oasisCollateral(t)
	cases := []struct {
		name string
		now  time.Time
		col  *Collateral
	}{
		{"before the PCK certificate", time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC), nil},
		{"after the PCK certificate", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		{"TCB info expired", time.Date(2023, 1, 19, 0, 0, 0, 0, time.UTC), col},
		{"QE identity expired", time.Date(2023, 1, 16, 0, 0, 0, 0, time.UTC), col},
		{"TCB info not yet issued", time.Date(2022, 12, 19, 9, 0, 0, 0, time.UTC), col},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(quote, Options{Now: c.now, Collateral: c.col})
			wantErr(t, err, ErrExpired)
		})
	}
	t.Run("Enarx CRLs stale", func(t *testing.T) {
		_, ext := enarxCSR(t)
		q, crls, tcb, err := ParseEnarxEvidence(ext)
		if err != nil {
			t.Fatal(err)
		}
		// 2023-02-20: the TCB info is current (to 02-24) but the PCK CRL expired on 02-17.
		_, err = Verify(q, Options{Now: time.Date(2023, 2, 20, 0, 0, 0, 0, time.UTC), CRLs: crls, Collateral: tcb})
		wantErr(t, err, ErrExpired)
		wantErr(t, err, ErrCollateral)
	})
	t.Run("no clock", func(t *testing.T) {
		_, err := Verify(quote, Options{})
		wantErr(t, err, ErrOptions)
	})
}

func TestWrongRoot(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	testRoot := newFakePKI(t, fakeConfig{}).root // self-made, named "Intel SGX Root CA"
	_, err := Verify(quote, Options{Now: oasisNow, Roots: []*x509.Certificate{testRoot}})
	wantErr(t, err, ErrUntrustedChain)

	// A fake quote chains to its own root, not to Intel's.
	fake := newFakePKI(t, fakeConfig{})
	_, err = Verify(fake.quote(t, fakeQuote{}), Options{Now: fakeNow})
	wantErr(t, err, ErrUntrustedChain)
	if _, err := Verify(fake.quote(t, fakeQuote{}), Options{Now: fakeNow, Roots: []*x509.Certificate{fake.root}}); err != nil {
		t.Fatalf("fake quote with its own root: %v", err)
	}

	// A TCB signing chain from another root is refused even when both roots are trusted.
	intel, err := tdx.IntelSGXRootCA()
	if err != nil {
		t.Fatal(err)
	}
	col := oasisCollateral(t)
	col.TCBSigningChain = []*x509.Certificate{fake.tcbSigner, fake.root}
	col.TCBInfo = fake.tcbInfo(t, []fakeLevel{{status: StatusUpToDate}}, oasisNow.Add(-time.Hour), oasisNow.Add(time.Hour))
	_, err = Verify(quote, Options{Now: oasisNow, Roots: []*x509.Certificate{intel, fake.root}, Collateral: col})
	wantErr(t, err, ErrCollateral)
}

func TestRejectsOtherQuotes(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	cases := map[string][]byte{
		"TDX quote v4":   readEvidence(t, "tdx/spr-e4-quote.dat"),
		"SNP report":     readEvidence(t, "snp/milan-report.bin"),
		"empty":          nil,
		"header only":    quote[:headerSize],
		"trailing bytes": append(bytes.Clone(quote), 0),
		"truncated":      quote[:len(quote)-1],
		"oversized":      append(bytes.Clone(quote), make([]byte, maxQuoteSize)...),
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(q, Options{Now: oasisNow})
			wantErr(t, err, ErrMalformed)
		})
	}
}

// Offsets in a quote v3 with the layout parseQuote checks.
const (
	offQuoteSig  = sigDataStart
	offAttestKey = offQuoteSig + rawSigSize
	offQEReport  = offAttestKey + attestKeySize
	offQESig     = offQEReport + reportSize
	offAuthLen   = offQESig + rawSigSize
)

// checkEveryFlip flips every byte of the quote with three masks, and demands that each flipped
// quote be rejected: with ErrBadSignature in the regions a signature covers directly, with
// some sentinel everywhere else (layout fields, attestation key, PEM PCK chain). The regions
// partition the quote, so each byte is tested once per mask.
func checkEveryFlip(t *testing.T, quote []byte, opts Options) {
	t.Helper()
	authEnd := offAuthLen + 2 + int(binary.LittleEndian.Uint16(quote[offAuthLen:]))
	regions := []struct {
		name       string
		start, end int
		want       error // nil: any sentinel
	}{
		{"header", 0, headerSize, nil},
		{"ISV enclave report", headerSize, sigDataLenAt, ErrBadSignature},
		{"signature data size", sigDataLenAt, sigDataStart, ErrMalformed},
		{"quote signature", offQuoteSig, offAttestKey, ErrBadSignature},
		{"attestation key", offAttestKey, offQEReport, nil},
		{"QE report", offQEReport, offQESig, ErrBadSignature},
		{"QE report signature", offQESig, offAuthLen, ErrBadSignature},
		{"QE auth data size", offAuthLen, offAuthLen + 2, ErrMalformed},
		{"QE auth data", offAuthLen + 2, authEnd, ErrBadSignature},
		{"certification data type and size", authEnd, authEnd + 6, ErrMalformed},
		{"PEM PCK chain", authEnd + 6, len(quote), nil},
	}
	next := 0
	for _, region := range regions {
		if region.start != next || region.end <= region.start {
			t.Fatalf("%s: regions do not partition the quote (%d..%d after %d)", region.name, region.start, region.end, next)
		}
		next = region.end
		for i := region.start; i < region.end; i++ {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				flipped := bytes.Clone(quote)
				flipped[i] ^= mask
				claims, err := Verify(flipped, opts)
				if err == nil || claims != nil {
					t.Fatalf("%s: flipping byte %d with %#x was accepted", region.name, i, mask)
				}
				if region.want != nil && !errors.Is(err, region.want) {
					t.Fatalf("%s: flipping byte %d with %#x: %v, want %v", region.name, i, mask, err, region.want)
				}
				if !wrapsSentinel(err) {
					t.Fatalf("%s: flipping byte %d: error wraps no sentinel: %v", region.name, i, err)
				}
			}
		}
	}
	if next != len(quote) {
		t.Fatalf("regions end at %d, the quote at %d", next, len(quote))
	}
}

func TestEveryFlipRealQuote(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	opts := Options{Now: oasisNow, Collateral: oasisCollateral(t)}
	if _, err := Verify(quote, opts); err != nil {
		t.Fatalf("unflipped quote: %v", err)
	}
	checkEveryFlip(t, quote, opts)
}

func TestEveryFlipRealEnarxQuote(t *testing.T) {
	_, ext := enarxCSR(t)
	quote, crls, tcb, err := ParseEnarxEvidence(ext)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Now: enarxNow, CRLs: crls, Collateral: tcb}
	if _, err := Verify(quote, opts); err != nil {
		t.Fatalf("unflipped quote: %v", err)
	}
	checkEveryFlip(t, quote, opts)
}

// TestEveryFlipCollateral flips every byte of the signed collateral documents: each must fail.
func TestEveryFlipCollateral(t *testing.T) {
	quote := readEvidence(t, "sgx/quote-v3-pck-chain.bin")
	for _, doc := range []string{"TCB info", "QE identity"} {
		col := oasisCollateral(t)
		target := &col.TCBInfo
		if doc == "QE identity" {
			target = &col.QEIdentity
		}
		orig := *target
		for i := range orig {
			*target = bytes.Clone(orig)
			(*target)[i] ^= 0x01
			_, err := Verify(quote, Options{Now: oasisNow, Collateral: col})
			if err == nil {
				t.Fatalf("%s: flipping byte %d (%q) was accepted", doc, i, orig[i])
			}
			if !errors.Is(err, ErrCollateral) {
				t.Fatalf("%s: flipping byte %d: %v, want a collateral error", doc, i, err)
			}
		}
	}
}
