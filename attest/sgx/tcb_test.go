package sgx

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"
)

var (
	before = fakeNow.Add(-24 * time.Hour)
	after  = fakeNow.Add(24 * time.Hour)
)

// fakeLevels is a TCB info shaped like Intel's: highest level first.
var fakeLevels = []fakeLevel{
	{comps: [16]byte{5, 5, 2, 2}, pcesvn: 13, status: StatusUpToDate},
	{comps: [16]byte{5, 5, 2, 2}, pcesvn: 11, status: StatusSWHardeningNeeded, advisories: []string{"INTEL-SA-1"}},
	{comps: [16]byte{4, 4, 2, 2}, pcesvn: 11, status: StatusConfigurationNeeded, advisories: []string{"INTEL-SA-2"}},
	{comps: [16]byte{3, 3, 0, 0}, pcesvn: 9, status: StatusOutOfDate, advisories: []string{"INTEL-SA-2", "INTEL-SA-3"}},
	{comps: [16]byte{1, 1, 0, 0}, pcesvn: 5, status: StatusRevoked, advisories: []string{"INTEL-SA-4"}},
}

var fakeQELevels = []fakeQELevel{
	{isvsvn: 8, status: StatusUpToDate},
	{isvsvn: 6, status: StatusOutOfDate, advisories: []string{"INTEL-SA-QE"}},
	{isvsvn: 2, status: StatusRevoked, advisories: []string{"INTEL-SA-QE-OLD"}},
}

func TestTCBLevelMatching(t *testing.T) {
	cases := []struct {
		name       string
		comps      [16]byte
		pcesvn     uint16
		qeSVN      uint16
		want       string
		advisories []string
		wantErr    error
	}{
		{"exactly the top level", [16]byte{5, 5, 2, 2}, 13, 8, StatusUpToDate, nil, nil},
		{"above the top level", [16]byte{9, 9, 9, 9, 9}, 20, 9, StatusUpToDate, nil, nil},
		{"PCESVN below the top", [16]byte{5, 5, 2, 2}, 12, 8, StatusSWHardeningNeeded, []string{"INTEL-SA-1"}, nil},
		{"one component below", [16]byte{5, 4, 2, 2}, 13, 8, StatusConfigurationNeeded, []string{"INTEL-SA-2"}, nil},
		{"component 3 below", [16]byte{5, 5, 2, 1}, 13, 8, StatusOutOfDate, []string{"INTEL-SA-2", "INTEL-SA-3"}, nil},
		{"QE out of date, platform SW hardening", [16]byte{5, 5, 2, 2}, 11, 7, StatusOutOfDate, []string{"INTEL-SA-1", "INTEL-SA-QE"}, nil},
		{"QE out of date, platform configuration", [16]byte{4, 4, 2, 2}, 11, 6, StatusOutOfDateConfigurationNeeded, []string{"INTEL-SA-2", "INTEL-SA-QE"}, nil},
		{"QE revoked", [16]byte{5, 5, 2, 2}, 13, 2, "", nil, ErrRevoked},
		{"platform revoked", [16]byte{2, 2}, 5, 8, "", nil, ErrRevoked},
		{"below every level", [16]byte{0, 9, 9, 9}, 13, 8, "", nil, ErrTCB},
		{"QE below every level", [16]byte{5, 5, 2, 2}, 13, 1, "", nil, ErrTCB},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pki := newFakePKI(t, fakeConfig{tcb: PCKTCB{Components: c.comps, PCESVN: c.pcesvn}})
			col := &Collateral{
				TCBInfo:         pki.tcbInfo(t, fakeLevels, before, after),
				QEIdentity:      pki.qeIdentity(t, []byte(intelQEMRSigner), fakeQELevels, before, after),
				TCBSigningChain: []*x509.Certificate{pki.tcbSigner, pki.root},
			}
			claims, err := Verify(pki.quote(t, fakeQuote{qeSVN: c.qeSVN}), Options{Now: fakeNow, Roots: []*x509.Certificate{pki.root}, Collateral: col})
			if c.wantErr != nil {
				wantErr(t, err, c.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if claims.TCBStatus != c.want || !slices.Equal(claims.AdvisoryIDs, c.advisories) {
				t.Errorf("status %q %v, want %q %v", claims.TCBStatus, claims.AdvisoryIDs, c.want, c.advisories)
			}
			if claims.PCKTCB.Components != c.comps || claims.PCKTCB.PCESVN != c.pcesvn {
				t.Errorf("PCK TCB %+v, want components %v PCESVN %d", claims.PCKTCB, c.comps, c.pcesvn)
			}
		})
	}
}

func TestQEChecks(t *testing.T) {
	otherSigner := make([]byte, 32)
	otherSigner[0] = 0x42
	pki := newFakePKI(t, fakeConfig{tcb: PCKTCB{Components: [16]byte{5, 5, 2, 2}, PCESVN: 13}})
	roots := []*x509.Certificate{pki.root}
	withQE := func(mrSigner []byte) *Collateral {
		return &Collateral{
			TCBInfo:         pki.tcbInfo(t, fakeLevels, before, after),
			QEIdentity:      pki.qeIdentity(t, mrSigner, fakeQELevels, before, after),
			TCBSigningChain: []*x509.Certificate{pki.tcbSigner},
		}
	}
	noQE := &Collateral{TCBInfo: pki.tcbInfo(t, fakeLevels, before, after), TCBSigningChain: []*x509.Certificate{pki.tcbSigner}}
	foreignQE := pki.quote(t, fakeQuote{qeMRSigner: otherSigner, qeProdID: 1, qeSVN: 9})
	cases := []struct {
		name  string
		quote []byte
		col   *Collateral
	}{
		{"foreign QE, no collateral", foreignQE, nil},
		{"foreign QE, no QE identity", foreignQE, noQE},
		{"foreign QE, Intel's QE identity", foreignQE, withQE([]byte(intelQEMRSigner))},
		{"Intel QE, another QE identity", pki.quote(t, fakeQuote{qeSVN: 9}), withQE(otherSigner)},
		{"Intel QE, wrong product", pki.quote(t, fakeQuote{qeMRSigner: []byte(intelQEMRSigner), qeProdID: 2, qeSVN: 9}), withQE([]byte(intelQEMRSigner))},
		{"debug QE", pki.quote(t, fakeQuote{qeSVN: 9, qeAttributes: [16]byte{0x17}}), nil},
		{"QE attributes outside the identity's", pki.quote(t, fakeQuote{qeSVN: 9, qeAttributes: [16]byte{0x35}}), withQE([]byte(intelQEMRSigner))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.quote, Options{Now: fakeNow, Roots: roots, Collateral: c.col})
			wantErr(t, err, ErrTCB)
		})
	}
	// Intel's QE passes all three ways.
	for _, col := range []*Collateral{nil, noQE, withQE([]byte(intelQEMRSigner))} {
		if _, err := Verify(pki.quote(t, fakeQuote{qeSVN: 9}), Options{Now: fakeNow, Roots: roots, Collateral: col}); err != nil {
			t.Errorf("Intel QE rejected: %v", err)
		}
	}
}

func TestCollateralChecks(t *testing.T) {
	pki := newFakePKI(t, fakeConfig{tcb: PCKTCB{Components: [16]byte{5, 5, 2, 2}, PCESVN: 13}})
	roots := []*x509.Certificate{pki.root}
	quote := pki.quote(t, fakeQuote{qeSVN: 9})
	good := func() *Collateral {
		return &Collateral{
			TCBInfo:         pki.tcbInfo(t, fakeLevels, before, after),
			QEIdentity:      pki.qeIdentity(t, []byte(intelQEMRSigner), fakeQELevels, before, after),
			TCBSigningChain: []*x509.Certificate{pki.tcbSigner, pki.root},
		}
	}
	if _, err := Verify(quote, Options{Now: fakeNow, Roots: roots, Collateral: good()}); err != nil {
		t.Fatalf("good collateral: %v", err)
	}
	otherFMSPC := newFakePKI(t, fakeConfig{fmspc: [6]byte{1, 2, 3, 4, 5, 6}})
	wrongCN := newFakePKI(t, fakeConfig{signerCN: "Intel SGX PCK Certificate"})
	cases := []struct {
		name   string
		mutate func(c *Collateral)
		want   error
	}{
		{"no TCB info", func(c *Collateral) { c.TCBInfo = nil }, ErrCollateral},
		{"no signing chain", func(c *Collateral) { c.TCBSigningChain = nil }, ErrCollateral},
		{"PCK leaf as TCB signer", func(c *Collateral) { c.TCBSigningChain = []*x509.Certificate{pki.pck, pki.inter} }, ErrCollateral},
		{"signer named like one, other root", func(c *Collateral) {
			c.TCBSigningChain = []*x509.Certificate{wrongCN.tcbSigner}
		}, ErrCollateral},
		{"TCB info for another FMSPC", func(c *Collateral) {
			// Signed by otherFMSPC's key: the signature fails first; re-sign with ours to
			// reach the FMSPC check.
			otherFMSPC.tcbKey = pki.tcbKey
			c.TCBInfo = otherFMSPC.tcbInfo(t, fakeLevels, before, after)
		}, ErrCollateral},
		{"TCB info expired", func(c *Collateral) { c.TCBInfo = pki.tcbInfo(t, fakeLevels, before.Add(-48*time.Hour), before) }, ErrExpired},
		{"QE identity not yet valid", func(c *Collateral) {
			c.QEIdentity = pki.qeIdentity(t, []byte(intelQEMRSigner), fakeQELevels, after, after.Add(time.Hour))
		}, ErrExpired},
		{"TCB info in place of QE identity", func(c *Collateral) { c.QEIdentity = c.TCBInfo }, ErrCollateral},
		{"unknown TCB status", func(c *Collateral) {
			c.TCBInfo = pki.tcbInfo(t, []fakeLevel{{status: "Fine"}}, before, after)
		}, ErrCollateral},
		{"no TCB levels", func(c *Collateral) { c.TCBInfo = pki.tcbInfo(t, nil, before, after) }, ErrCollateral},
		{"not JSON", func(c *Collateral) { c.TCBInfo = []byte("{") }, ErrCollateral},
		{"oversized", func(c *Collateral) { c.TCBInfo = make([]byte, maxCollateralJSON+1) }, ErrCollateral},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			col := good()
			c.mutate(col)
			_, err := Verify(quote, Options{Now: fakeNow, Roots: roots, Collateral: col})
			wantErr(t, err, c.want)
		})
	}
}

func TestRevocation(t *testing.T) {
	pki := newFakePKI(t, fakeConfig{})
	roots := []*x509.Certificate{pki.root}
	quote := pki.quote(t, fakeQuote{})
	col := &Collateral{TCBInfo: pki.tcbInfo(t, []fakeLevel{{status: StatusUpToDate}}, before, after), TCBSigningChain: []*x509.Certificate{pki.tcbSigner}}

	// An impostor CA with the intermediate's name but another key.
	impostor := newFakePKI(t, fakeConfig{})
	impostorCA := *impostor.inter
	impostorCA.RawSubject = pki.inter.RawSubject
	impostorCA.Subject = pki.inter.Subject
	forged := fakeCRL(t, &impostorCA, impostor.interKey, before, after)
	// CreateRevocationList takes the issuer name from RawSubject: check the forgery names ours.
	if string(forged.RawIssuer) != string(pki.inter.RawSubject) {
		t.Fatal("forged CRL does not name the real intermediate")
	}
	// A CRL of some other CA, listing our serials: not ours, so ignored (as the PCK Platform
	// CA's CRL is for a Processor CA chain).
	other := newFakePKI(t, fakeConfig{rootName: "Some Other CA"})
	unrelated := fakeCRL(t, other.root, other.rootKey, before, after, pki.inter.SerialNumber, pki.pck.SerialNumber)

	cases := []struct {
		name string
		crls []*x509.RevocationList
		col  *Collateral
		want error // nil: accepted
	}{
		{"clean CRLs", []*x509.RevocationList{fakeCRL(t, pki.inter, pki.interKey, before, after, big.NewInt(999)), fakeCRL(t, pki.root, pki.rootKey, before, after)}, col, nil},
		{"unrelated CRL ignored", []*x509.RevocationList{unrelated}, col, nil},
		{"PCK revoked", []*x509.RevocationList{fakeCRL(t, pki.inter, pki.interKey, before, after, pki.pck.SerialNumber)}, nil, ErrRevoked},
		{"intermediate revoked", []*x509.RevocationList{fakeCRL(t, pki.root, pki.rootKey, before, after, pki.inter.SerialNumber)}, nil, ErrRevoked},
		{"TCB signer revoked", []*x509.RevocationList{fakeCRL(t, pki.root, pki.rootKey, before, after, pki.tcbSigner.SerialNumber)}, col, ErrRevoked},
		{"forged CRL", []*x509.RevocationList{forged}, nil, ErrBadSignature},
		{"forged root CRL", []*x509.RevocationList{fakeCRL(t, impostor.root, impostor.rootKey, before, after)}, nil, ErrBadSignature},
		{"stale CRL", []*x509.RevocationList{fakeCRL(t, pki.inter, pki.interKey, before.Add(-48*time.Hour), before)}, nil, ErrExpired},
		{"nil CRL", []*x509.RevocationList{nil}, nil, ErrOptions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(quote, Options{Now: fakeNow, Roots: roots, CRLs: c.crls, Collateral: c.col})
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, c.want)
		})
	}
}

func TestPCKChainRoles(t *testing.T) {
	pki := newFakePKI(t, fakeConfig{})
	if _, _, _, err := parsePCKChain(pki.chainPEM); err != nil {
		t.Fatalf("chain with the right names: %v", err)
	}
	// Certificates of other roles cannot stand in for the PCK leaf or its CA.
	for name, certs := range map[string][]*x509.Certificate{
		"TCB signer as leaf":   {pki.tcbSigner, pki.inter, pki.root},
		"root as intermediate": {pki.pck, pki.root, pki.root},
	} {
		var chain []byte
		for _, c := range certs {
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		_, _, _, err := parsePCKChain(chain)
		if !errors.Is(err, ErrUntrustedChain) {
			t.Errorf("%s: %v, want %v", name, err, ErrUntrustedChain)
		}
	}
}
