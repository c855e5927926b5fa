package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest/snp"
)

// uuidInt parses a textual UUID into its 128-bit integer.
func uuidInt(t *testing.T, u string) *big.Int {
	t.Helper()
	hex := strings.ReplaceAll(u, "-", "")
	if len(hex) != 32 {
		t.Fatalf("UUID %q: %d hex digits, want 32", u, len(hex))
	}
	n, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		t.Fatalf("UUID %q is not hex", u)
	}
	return n
}

func TestArcDerivation(t *testing.T) {
	n := uuidInt(t, ArcUUID)
	if got := "2.25." + n.String(); got != ArcX667 {
		t.Errorf("ArcX667 = %s, but UUID %s gives %s", ArcX667, ArcUUID, got)
	}
	// RFC 9562: version 4 (random) and the 10xx variant.
	if v := n.Rsh(n, 76).Uint64() & 0xf; v != 4 {
		t.Errorf("UUID version %d, want 4", v)
	}
	n = uuidInt(t, ArcUUID)
	top := new(big.Int).Rsh(n, 97)
	if !top.IsInt64() || top.Int64() != arcTop31 {
		t.Errorf("arcTop31 = %d, but the UUID's top 31 bits are %s", arcTop31, top)
	}
	if got, want := Arc.String(), "2.25."+top.String(); got != want {
		t.Errorf("Arc = %s, want %s", got, want)
	}
}

func TestOIDsUnderArcAndDistinct(t *testing.T) {
	ours := map[string]asn1.ObjectIdentifier{
		"evidence": OIDEvidence, "claims": OIDClaims, "formats": OIDEvidenceFormats,
		"nil": OIDFormatNil, "snp": OIDFormatSNP, "tdx": OIDFormatTDX,
	}
	seen := map[string]string{}
	for name, oid := range ours {
		if len(oid) <= len(Arc) || !oid[:len(Arc)].Equal(Arc) {
			t.Errorf("%s OID %s is not under the arc %s", name, oid, Arc)
		}
		if other, dup := seen[oid.String()]; dup {
			t.Errorf("%s and %s share OID %s", name, other, oid)
		}
		seen[oid.String()] = name
	}
	for _, oid := range []asn1.ObjectIdentifier{OIDFormatNil, OIDFormatSNP, OIDFormatTDX} {
		if !oid[:len(OIDEvidenceFormats)].Equal(OIDEvidenceFormats) {
			t.Errorf("format %s is not under %s", oid, OIDEvidenceFormats)
		}
	}
	if !OIDEnarxSNP.Equal(snp.EnarxExtensionOID) {
		t.Errorf("OIDEnarxSNP = %s, attest/snp uses %s", OIDEnarxSNP, snp.EnarxExtensionOID)
	}
	for i, oid := range []asn1.ObjectIdentifier{OIDEnarxKVM, OIDEnarxSGX, OIDEnarxSNP} {
		if want := "1.3.6.1.4.1.58270.1." + string(rune('1'+i)); oid.String() != want {
			t.Errorf("Enarx OID %s, want %s", oid, want)
		}
	}
}

// encodeOID is an independent DER encoder for OIDs with arbitrarily large
// arcs (asn1.ObjectIdentifier cannot hold a UUID).
func encodeOID(arcs ...*big.Int) []byte {
	first := new(big.Int).Mul(arcs[0], big.NewInt(40))
	first.Add(first, arcs[1])
	var body []byte
	for _, a := range append([]*big.Int{first}, arcs[2:]...) {
		var groups []byte
		v := new(big.Int).Set(a)
		for {
			groups = append([]byte{byte(new(big.Int).And(v, big.NewInt(0x7f)).Int64())}, groups...)
			v.Rsh(v, 7)
			if v.Sign() == 0 {
				break
			}
		}
		for i := 0; i < len(groups)-1; i++ {
			groups[i] |= 0x80
		}
		body = append(body, groups...)
	}
	return append([]byte{0x06, byte(len(body))}, body...)
}

func selfSigned(t *testing.T, exts []pkix.Extension) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: "keep"},
		NotBefore:       time.Unix(1_700_000_000, 0),
		NotAfter:        time.Unix(1_800_000_000, 0),
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCanonicalArcUnusableInGo records why Arc is not ArcX667: Go cannot
// parse a certificate whose extension OID has the UUID arc. If this test
// starts failing, Go has lifted the limit and the arc can move (see oid.go).
func TestCanonicalArcUnusableInGo(t *testing.T) {
	canon := encodeOID(big.NewInt(2), big.NewInt(25), uuidInt(t, ArcUUID), big.NewInt(2))
	// A placeholder OID of the same encoded length, swapped for the real one
	// after signing (parsing does not check the signature).
	arcs := []int{2, 25}
	for len(arcs)-1 < len(canon)-2 {
		arcs = append(arcs, 1)
	}
	placeholder, err := asn1.Marshal(asn1.ObjectIdentifier(arcs))
	if err != nil {
		t.Fatal(err)
	}
	if len(placeholder) != len(canon) {
		t.Fatalf("placeholder is %d bytes, canonical OID %d", len(placeholder), len(canon))
	}
	der := selfSigned(t, []pkix.Extension{{Id: asn1.ObjectIdentifier(arcs), Value: []byte{0x05, 0x00}}})
	if _, err := x509.ParseCertificate(der); err != nil {
		t.Fatalf("placeholder certificate: %v", err)
	}
	if bytes.Count(der, placeholder) != 1 {
		t.Fatal("placeholder OID not found exactly once in the certificate")
	}
	swapped := bytes.Replace(der, placeholder, canon, 1)
	if _, err := x509.ParseCertificate(swapped); err == nil || !strings.Contains(err.Error(), "OID") {
		t.Errorf("crypto/x509 on a 2.25.<UUID> extension OID: err = %v; if it parses now, consider moving Arc to ArcX667", err)
	}
}

func TestClaimsInCertificate(t *testing.T) {
	c := testClaims(PlatformSNP)
	ext, err := c.Extension()
	if err != nil {
		t.Fatal(err)
	}
	if ext.Critical {
		t.Error("claims extension is critical; TLS clients that do not know it would reject the certificate")
	}
	cert, err := x509.ParseCertificate(selfSigned(t, []pkix.Extension{ext}))
	if err != nil {
		t.Fatalf("parsing a certificate with donjon's claims OID %s: %v", OIDClaims, err)
	}
	got, err := ClaimsFromCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	assertClaimsEqual(t, got, c)

	plain, err := x509.ParseCertificate(selfSigned(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ClaimsFromCertificate(plain); err == nil {
		t.Error("certificate without claims: no error")
	}
	if _, err := ClaimsFromCertificate(nil); err == nil {
		t.Error("nil certificate: no error")
	}
	twice := *cert
	twice.Extensions = append(append([]pkix.Extension{}, cert.Extensions...), ext)
	if _, err := ClaimsFromCertificate(&twice); err == nil {
		t.Error("claims extension twice: no error")
	}
}
