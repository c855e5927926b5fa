package sgx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// fakeNow is inside the validity of everything the fake PKI makes by default.
var fakeNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakePKI is a throw-away Intel-shaped PKI for tests: root, PCK intermediate, PCK leaf with the
// SGX extension, TCB signing certificate, and an attestation key. Nothing here is secret.
type fakePKI struct {
	root, inter, pck, tcbSigner                  *x509.Certificate
	rootKey, interKey, pckKey, tcbKey, attestKey *ecdsa.PrivateKey
	chainPEM                                     []byte
	fmspc                                        [6]byte
}

type fakeConfig struct {
	fmspc     [6]byte // zero: 00906ED50000
	tcb       PCKTCB
	rootName  string // zero: "Intel SGX Root CA"
	signerCN  string // zero: cnTCBSigning
	notBefore time.Time
	notAfter  time.Time
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newFakePKI(t testing.TB, cfg fakeConfig) *fakePKI {
	t.Helper()
	if cfg.fmspc == ([6]byte{}) {
		cfg.fmspc = [6]byte{0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00}
	}
	if cfg.rootName == "" {
		cfg.rootName = "Intel SGX Root CA"
	}
	if cfg.signerCN == "" {
		cfg.signerCN = cnTCBSigning
	}
	if cfg.notBefore.IsZero() {
		cfg.notBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.notAfter.IsZero() {
		cfg.notAfter = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	p := &fakePKI{rootKey: mustKey(t), interKey: mustKey(t), pckKey: mustKey(t), tcbKey: mustKey(t), attestKey: mustKey(t), fmspc: cfg.fmspc}
	serial := int64(1)
	issue := func(cn string, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, exts []pkix.Extension) *x509.Certificate {
		serial++
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"donjon test, not Intel"}},
			NotBefore:             cfg.notBefore,
			NotAfter:              cfg.notAfter,
			BasicConstraintsValid: true,
			IsCA:                  ca,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtraExtensions:       exts,
		}
		if ca {
			tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	p.root = issue(cfg.rootName, p.rootKey, nil, nil, true, nil)
	p.inter = issue(cnProcessorCA, p.interKey, p.root, p.rootKey, true, nil)
	p.pck = issue(cnPCKLeaf, p.pckKey, p.inter, p.interKey, false, []pkix.Extension{{Id: OIDSGXExtensions, Value: fakeSGXExtension(t, cfg.fmspc, cfg.tcb)}})
	p.tcbSigner = issue(cfg.signerCN, p.tcbKey, p.root, p.rootKey, false, nil)
	for _, c := range []*x509.Certificate{p.pck, p.inter, p.root} {
		p.chainPEM = append(p.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p.chainPEM = append(p.chainPEM, 0) // as Intel's quote generator leaves it
	return p
}

type fakeEntry struct {
	ID    asn1.ObjectIdentifier
	Value any
}

func sub(parent asn1.ObjectIdentifier, n ...int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, parent...), n...)
}

func fakeSGXExtension(t testing.TB, fmspc [6]byte, tcb PCKTCB) []byte {
	t.Helper()
	tcbOID := sub(OIDSGXExtensions, pckTCB)
	var tcbEntries []fakeEntry
	for i, svn := range tcb.Components {
		tcbEntries = append(tcbEntries, fakeEntry{sub(tcbOID, i+1), int(svn)})
	}
	tcbEntries = append(tcbEntries, fakeEntry{sub(tcbOID, tcbPCESVN), int(tcb.PCESVN)}, fakeEntry{sub(tcbOID, tcbCPUSVN), tcb.CPUSVN[:]})
	der, err := asn1.Marshal([]fakeEntry{
		{sub(OIDSGXExtensions, pckPPID), bytes.Repeat([]byte{0xaa}, 16)},
		{sub(OIDSGXExtensions, pckTCB), tcbEntries},
		{sub(OIDSGXExtensions, pckPCEID), []byte{0, 0}},
		{sub(OIDSGXExtensions, pckFMSPC), fmspc[:]},
		{sub(OIDSGXExtensions, pckSGXType), asn1.Enumerated(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fakeQuote chooses report fields; zero QE fields mean Intel's QE (MRSIGNER, ISVPRODID 1).
type fakeQuote struct {
	cpuSVN       [16]byte
	attributes   [16]byte
	mrEnclave    [32]byte
	mrSigner     [32]byte
	isvProdID    uint16
	isvSVN       uint16
	reportData   [64]byte
	qeMRSigner   []byte
	qeProdID     uint16
	qeSVN        uint16
	qeAttributes [16]byte
}

func signRaw(t testing.TB, key *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func fakeReport(cpuSVN, attributes [16]byte, mrEnclave, mrSigner [32]byte, prodID, svn uint16, reportData []byte) []byte {
	r := make([]byte, reportSize)
	copy(r[repCPUSVN:], cpuSVN[:])
	copy(r[repAttributes:], attributes[:])
	copy(r[repMREnclave:], mrEnclave[:])
	copy(r[repMRSigner:], mrSigner[:])
	binary.LittleEndian.PutUint16(r[repISVProdID:], prodID)
	binary.LittleEndian.PutUint16(r[repISVSVN:], svn)
	copy(r[repReportData:], reportData)
	return r
}

func (p *fakePKI) quote(t testing.TB, q fakeQuote) []byte {
	t.Helper()
	header := make([]byte, headerSize)
	binary.LittleEndian.PutUint16(header[0:], quoteVersion)
	binary.LittleEndian.PutUint16(header[2:], akTypeECDSAP256)
	binary.LittleEndian.PutUint16(header[8:], q.qeSVN)
	binary.LittleEndian.PutUint16(header[10:], 13)
	copy(header[12:], intelQEVendorID)
	body := fakeReport(q.cpuSVN, q.attributes, q.mrEnclave, q.mrSigner, q.isvProdID, q.isvSVN, q.reportData[:])

	akBytes, err := p.attestKey.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	akRaw := akBytes[1:] // drop the uncompressed-point prefix 0x04
	authData := []byte("fake QE auth data")
	binding := sha256.Sum256(append(bytes.Clone(akRaw), authData...))
	qeSigner, qeProd, qeAttrs := q.qeMRSigner, q.qeProdID, q.qeAttributes
	if qeSigner == nil {
		qeSigner, qeProd = []byte(intelQEMRSigner), intelQEProdID
	}
	if qeAttrs == ([16]byte{}) {
		qeAttrs[0] = 0x15 // INIT | MODE64BIT | PROVISIONKEY
	}
	qeReport := fakeReport(q.cpuSVN, qeAttrs, [32]byte{1}, [32]byte(qeSigner), qeProd, q.qeSVN, binding[:])

	var sig bytes.Buffer
	sig.Write(signRaw(t, p.attestKey, append(bytes.Clone(header), body...)))
	sig.Write(akRaw)
	sig.Write(qeReport)
	sig.Write(signRaw(t, p.pckKey, qeReport))
	sig.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(authData))))
	sig.Write(authData)
	sig.Write(binary.LittleEndian.AppendUint16(nil, certTypePCKChain))
	sig.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(p.chainPEM))))
	sig.Write(p.chainPEM)

	out := append(header, body...)
	out = binary.LittleEndian.AppendUint32(out, uint32(sig.Len()))
	return append(out, sig.Bytes()...)
}

// signedJSON wraps body as Intel PCS does: {"<field>":<body>,"signature":"<hex r||s>"}.
func (p *fakePKI) signedJSON(t testing.TB, field string, body any) []byte {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(map[string]any{field: json.RawMessage(raw), "signature": hex.EncodeToString(signRaw(t, p.tcbKey, raw))})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type fakeLevel struct {
	comps      [16]byte
	pcesvn     int
	status     string
	advisories []string
}

func (p *fakePKI) tcbInfo(t testing.TB, levels []fakeLevel, issue, next time.Time) []byte {
	t.Helper()
	var ls []any
	for _, l := range levels {
		var comps []map[string]int
		for _, c := range l.comps {
			comps = append(comps, map[string]int{"svn": int(c)})
		}
		ls = append(ls, map[string]any{
			"tcb":         map[string]any{"sgxtcbcomponents": comps, "pcesvn": l.pcesvn},
			"tcbDate":     "2024-01-01T00:00:00Z",
			"tcbStatus":   l.status,
			"advisoryIDs": l.advisories,
		})
	}
	return p.signedJSON(t, "tcbInfo", map[string]any{
		"id": "SGX", "version": 3, "issueDate": issue.Format(time.RFC3339), "nextUpdate": next.Format(time.RFC3339),
		"fmspc": hex.EncodeToString(p.fmspc[:]), "pceId": "0000", "tcbType": 0, "tcbEvaluationDataNumber": 17,
		"tcbLevels": ls,
	})
}

type fakeQELevel struct {
	isvsvn     int
	status     string
	advisories []string
}

func (p *fakePKI) qeIdentity(t testing.TB, mrSigner []byte, levels []fakeQELevel, issue, next time.Time) []byte {
	t.Helper()
	var ls []any
	for _, l := range levels {
		ls = append(ls, map[string]any{"tcb": map[string]int{"isvsvn": l.isvsvn}, "tcbDate": "2024-01-01T00:00:00Z", "tcbStatus": l.status, "advisoryIDs": l.advisories})
	}
	return p.signedJSON(t, "enclaveIdentity", map[string]any{
		"id": "QE", "version": 2, "issueDate": issue.Format(time.RFC3339), "nextUpdate": next.Format(time.RFC3339),
		"tcbEvaluationDataNumber": 17, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
		"attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
		"mrsigner": hex.EncodeToString(mrSigner), "isvprodid": 1, "tcbLevels": ls,
	})
}

// fakeCRL makes a CRL by issuer (signed with key) revoking serials.
func fakeCRL(t testing.TB, issuer *x509.Certificate, key *ecdsa.PrivateKey, thisUpdate, nextUpdate time.Time, serials ...*big.Int) *x509.RevocationList {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: nextUpdate, RevokedCertificateEntries: entries,
	}, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}
