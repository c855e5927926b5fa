package sgx

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

// decodeEnarx decodes the real extension into the package's mirror of Enarx's structure.
func decodeEnarx(t *testing.T) (enarxEvidence, []byte) {
	t.Helper()
	_, ext := enarxCSR(t)
	var ev enarxEvidence
	if err := unmarshalAll(ext, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, ext
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// The structure mirrors the real bytes exactly: re-encoding the decoded value gives them back.
func TestEnarxStructureRoundTrips(t *testing.T) {
	ev, ext := decodeEnarx(t)
	if !bytes.Equal(marshal(t, ev), ext) {
		t.Fatal("re-encoded Enarx evidence differs from the captured extension")
	}
	if len(ev.CRLs.Entries) != 3 || ev.CRLs.Entries[0].URL != "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der" {
		t.Fatalf("CRL list %d entries, first URL %q", len(ev.CRLs.Entries), ev.CRLs.Entries[0].URL)
	}
}

func TestParseEnarxEvidenceRejects(t *testing.T) {
	ev, ext := decodeEnarx(t)

	// Enarx's README form: CrlList as a bare SEQUENCE OF, without the wrapping SEQUENCE.
	bare := marshal(t, struct {
		Quote []byte
		CRLs  []enarxCRL
		TCB   any
	}{ev.Quote, ev.CRLs.Entries, ev.TCB})

	tooMany := ev
	for len(tooMany.CRLs.Entries) <= maxEnarxCRLs {
		tooMany.CRLs.Entries = append(tooMany.CRLs.Entries, ev.CRLs.Entries[0])
	}
	noInfo := ev
	noInfo.TCB.TCBInfo = nil
	noCerts := ev
	noCerts.TCB.Certs = nil
	badCRL := ev
	badCRL.CRLs.Entries = []enarxCRL{{URL: "x", CRL: ev.TCB.Certs[0]}} // a certificate, not a CRL
	badCert := ev
	badCert.TCB.Certs = []asn1.RawValue{ev.CRLs.Entries[0].CRL}
	noQuote := ev
	noQuote.Quote = nil
	bigQuote := ev
	bigQuote.Quote = make([]byte, maxQuoteSize+1)

	cases := map[string][]byte{
		"empty":                 nil,
		"truncated":             ext[:len(ext)-1],
		"trailing bytes":        append(bytes.Clone(ext), 0),
		"bare CrlList":          bare,
		"too many CRLs":         marshal(t, tooMany),
		"TCB package, no info":  marshal(t, noInfo),
		"TCB package, no certs": marshal(t, noCerts),
		"CRL not a CRL":         marshal(t, badCRL),
		"certificate not one":   marshal(t, badCert),
		"no quote":              marshal(t, noQuote),
		"oversized quote":       marshal(t, bigQuote),
		"oversized evidence":    make([]byte, maxEnarxEvidence+1),
	}
	for name, der := range cases {
		t.Run(name, func(t *testing.T) {
			q, crls, tcb, err := ParseEnarxEvidence(der)
			wantErr(t, err, ErrMalformed)
			if q != nil || crls != nil || tcb != nil {
				t.Fatal("results returned with an error")
			}
		})
	}
}

func TestParseEnarxEvidenceEmptyTCBPackage(t *testing.T) {
	ev, _ := decodeEnarx(t)
	ev.TCB.Certs, ev.TCB.TCBInfo = nil, nil
	ev.CRLs.Entries = nil
	quote, crls, tcb, err := ParseEnarxEvidence(marshal(t, ev))
	if err != nil {
		t.Fatal(err)
	}
	if tcb != nil || crls != nil || !bytes.Equal(quote, ev.Quote) {
		t.Fatalf("empty package gave collateral %v, %d CRLs", tcb, len(crls))
	}
	// Without collateral the quote verifies with no TCB appraisal.
	claims, err := Verify(quote, Options{Now: enarxNow, Collateral: tcb})
	if err != nil || claims.TCBStatus != "" {
		t.Fatalf("%v, status %q", err, claims.TCBStatus)
	}
}
