// Package tdxtest makes Intel TDX quotes (version 4) signed by a throw-away test PCK chain, for
// tests only: a verifier that trusts Signer.Root accepts them, one that trusts the real Intel
// SGX Root CA rejects them. Nothing here is secret or protected; never trust Signer.Root outside
// tests.
package tdxtest

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
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// AttributeDebug is the TDATTRIBUTES.DEBUG bit, in TDAttributes[0].
const AttributeDebug = 0x01

// DefaultFMSPC is the FMSPC put in the PCK certificate when Config.FMSPC is zero (a Sapphire
// Rapids platform, like the real sample quote).
var DefaultFMSPC = [6]byte{0x50, 0x80, 0x6f, 0x00, 0x00, 0x00}

// Config shapes the test PCK chain.
type Config struct {
	NotBefore, NotAfter time.Time // zero: 2020-01-01 and 2050-01-01 UTC
	FMSPC               [6]byte   // zero: DefaultFMSPC
}

// Signer holds a test root CA, intermediate CA, PCK leaf and attestation key.
type Signer struct {
	Root, Intermediate, PCK *x509.Certificate

	rootKey, intermediateKey *ecdsa.PrivateKey
	pckKey, attestKey        *ecdsa.PrivateKey
	chainPEM                 []byte
}

// Quote chooses the TD report fields of a quote; zero fields stay zero.
type Quote struct {
	TEETCBSVN    [16]byte
	MRSEAM       [48]byte
	TDAttributes [8]byte
	XFAM         [8]byte
	MRTD         [48]byte
	RTMR         [4][48]byte
	ReportData   [64]byte
}

// Intel's OIDs for the SGX extension of PCK certificates.
var (
	oidSGX     = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	oidPPID    = append(oidSGX[:len(oidSGX):len(oidSGX)], 1)
	oidTCB     = append(oidSGX[:len(oidSGX):len(oidSGX)], 2)
	oidPCEID   = append(oidSGX[:len(oidSGX):len(oidSGX)], 3)
	oidFMSPC   = append(oidSGX[:len(oidSGX):len(oidSGX)], 4)
	oidSGXType = append(oidSGX[:len(oidSGX):len(oidSGX)], 5)
)

// New generates a fresh chain: root "Intel SGX Root CA", intermediate "Intel SGX PCK Platform
// CA", leaf "Intel SGX PCK Certificate" (the names go-tdx-guest requires), all ECDSA P-256 and
// marked as test certificates in their organization.
func New(cfg Config) (*Signer, error) {
	if cfg.NotBefore.IsZero() {
		cfg.NotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.NotAfter.IsZero() {
		cfg.NotAfter = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.FMSPC == ([6]byte{}) {
		cfg.FMSPC = DefaultFMSPC
	}
	keys := make([]*ecdsa.PrivateKey, 4)
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("tdxtest: generate key: %w", err)
		}
		keys[i] = k
	}
	rootKey, intKey, pckKey, attestKey := keys[0], keys[1], keys[2], keys[3]

	name := func(cn string) pkix.Name {
		return pkix.Name{CommonName: cn, Organization: []string{"donjon test signer (not Intel)"}}
	}
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: name("Intel SGX Root CA"),
		NotBefore: cfg.NotBefore, NotAfter: cfg.NotAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: keyID(&rootKey.PublicKey),
	}
	inter := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: name("Intel SGX PCK Platform CA"),
		NotBefore: cfg.NotBefore, NotAfter: cfg.NotAfter,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: keyID(&intKey.PublicKey),
	}
	sgxExt, err := sgxExtension(cfg.FMSPC)
	if err != nil {
		return nil, err
	}
	// go-tdx-guest wants exactly six extensions, as in Intel's PCK certificates: authority and
	// subject key IDs, key usage, basic constraints, CRL distribution points, SGX extension.
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: name("Intel SGX PCK Certificate"),
		NotBefore: cfg.NotBefore, NotAfter: cfg.NotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SubjectKeyId:          keyID(&pckKey.PublicKey),
		CRLDistributionPoints: []string{"https://pck-crl.invalid/donjon-test"},
		ExtraExtensions:       []pkix.Extension{{Id: oidSGX, Value: sgxExt}},
	}

	s := &Signer{rootKey: rootKey, intermediateKey: intKey, pckKey: pckKey, attestKey: attestKey}
	if s.Root, err = create(root, root, &rootKey.PublicKey, rootKey); err != nil {
		return nil, err
	}
	if s.Intermediate, err = create(inter, s.Root, &intKey.PublicKey, rootKey); err != nil {
		return nil, err
	}
	if s.PCK, err = create(leaf, s.Intermediate, &pckKey.PublicKey, intKey); err != nil {
		return nil, err
	}
	for _, c := range []*x509.Certificate{s.PCK, s.Intermediate, s.Root} {
		s.chainPEM = append(s.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return s, nil
}

// Quote returns a TDX quote v4 over q: the TD report signed by the attestation key, a QE report
// binding that key (SHA-256(key || QE auth data) in its report data) signed by the PCK key, and
// the PEM PCK chain.
func (s *Signer) Quote(q Quote) ([]byte, error) {
	header := make([]byte, 0, 48)
	header = binary.LittleEndian.AppendUint16(header, 4)                                                                    // version
	header = binary.LittleEndian.AppendUint16(header, 2)                                                                    // ECDSA P-256 attestation key
	header = binary.LittleEndian.AppendUint32(header, 0x81)                                                                 // TEE type TDX
	header = binary.LittleEndian.AppendUint16(header, 13)                                                                   // PCE SVN
	header = binary.LittleEndian.AppendUint16(header, 8)                                                                    // QE SVN
	header = append(header, 0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07) // Intel QE vendor ID
	header = append(header, make([]byte, 20)...)                                                                            // user data

	body := make([]byte, 0, 584)
	body = append(body, q.TEETCBSVN[:]...)
	body = append(body, q.MRSEAM[:]...)
	body = append(body, make([]byte, 48)...) // MRSIGNERSEAM: zero for Intel's TDX module
	body = append(body, make([]byte, 8)...)  // SEAMATTRIBUTES
	body = append(body, q.TDAttributes[:]...)
	body = append(body, q.XFAM[:]...)
	body = append(body, q.MRTD[:]...)
	body = append(body, make([]byte, 3*48)...) // MRCONFIGID, MROWNER, MROWNERCONFIG
	for i := range q.RTMR {
		body = append(body, q.RTMR[i][:]...)
	}
	body = append(body, q.ReportData[:]...)

	attestKey, err := s.attestKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, fmt.Errorf("tdxtest: attestation key: %w", err)
	}
	attestKey = attestKey[1:]
	authData := make([]byte, 32)
	for i := range authData {
		authData[i] = byte(i)
	}
	binding := sha256.Sum256(append(append([]byte{}, attestKey...), authData...))

	qeReport := make([]byte, 384)
	copy(qeReport[48:], []byte{0x11})                       // attributes: INIT | MODE64BIT
	copy(qeReport[128:160], bytes.Repeat([]byte{0xd0}, 32)) // MRSIGNER (test value)
	binary.LittleEndian.PutUint16(qeReport[256:], 2)        // ISVPRODID: TD QE
	binary.LittleEndian.PutUint16(qeReport[258:], 4)        // ISVSVN
	copy(qeReport[320:352], binding[:])                     // report data, rest zero
	qeSig, err := sign(s.pckKey, qeReport)
	if err != nil {
		return nil, err
	}
	quoteSig, err := sign(s.attestKey, append(append([]byte{}, header...), body...))
	if err != nil {
		return nil, err
	}

	var inner []byte // QE report certification data
	inner = append(inner, qeReport...)
	inner = append(inner, qeSig...)
	inner = binary.LittleEndian.AppendUint16(inner, uint16(len(authData)))
	inner = append(inner, authData...)
	inner = binary.LittleEndian.AppendUint16(inner, 5) // PCK certificate chain
	inner = binary.LittleEndian.AppendUint32(inner, uint32(len(s.chainPEM)))
	inner = append(inner, s.chainPEM...)

	var signed []byte
	signed = append(signed, quoteSig...)
	signed = append(signed, attestKey...)
	signed = binary.LittleEndian.AppendUint16(signed, 6) // QE report certification data
	signed = binary.LittleEndian.AppendUint32(signed, uint32(len(inner)))
	signed = append(signed, inner...)

	out := append(header, body...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(signed)))
	return append(out, signed...), nil
}

// PCKCRL returns a DER CRL issued by the intermediate CA, valid from thisUpdate for 30 days,
// revoking the given certificates (for example s.PCK).
func (s *Signer) PCKCRL(thisUpdate time.Time, revoked ...*x509.Certificate) ([]byte, error) {
	return crl(s.Intermediate, s.intermediateKey, thisUpdate, revoked)
}

// RootCRL returns a DER CRL issued by the root CA, valid from thisUpdate for 30 days, revoking
// the given certificates (for example s.Intermediate).
func (s *Signer) RootCRL(thisUpdate time.Time, revoked ...*x509.Certificate) ([]byte, error) {
	return crl(s.Root, s.rootKey, thisUpdate, revoked)
}

func crl(issuer *x509.Certificate, key *ecdsa.PrivateKey, thisUpdate time.Time, revoked []*x509.Certificate) ([]byte, error) {
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: thisUpdate,
		NextUpdate: thisUpdate.Add(30 * 24 * time.Hour),
	}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
	if err != nil {
		return nil, fmt.Errorf("tdxtest: CRL of %q: %w", issuer.Subject.CommonName, err)
	}
	return der, nil
}

// sign returns Intel's signature format: r || s, 32 bytes each, over SHA-256(msg).
func sign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("tdxtest: sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

func create(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("tdxtest: create %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func keyID(pub *ecdsa.PublicKey) []byte {
	b, _ := pub.Bytes()
	sum := sha256.Sum256(b)
	return sum[:20]
}

// sgxExtension encodes the SGX extension the way Intel PCK certificates carry it: a SEQUENCE of
// (OID, value) pairs for PPID, TCB (16 component SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type.
func sgxExtension(fmspc [6]byte) ([]byte, error) {
	var tcb [][]byte
	cpuSVN := make([]byte, 16)
	for i := 1; i <= 16; i++ {
		svn := 0
		if i <= 2 {
			svn = 5
		}
		cpuSVN[i-1] = byte(svn)
		p, err := pair(append(oidTCB[:len(oidTCB):len(oidTCB)], i), svn)
		if err != nil {
			return nil, err
		}
		tcb = append(tcb, p)
	}
	pceSVN, err := pair(append(oidTCB[:len(oidTCB):len(oidTCB)], 17), 13)
	if err != nil {
		return nil, err
	}
	cpu, err := pair(append(oidTCB[:len(oidTCB):len(oidTCB)], 18), cpuSVN)
	if err != nil {
		return nil, err
	}
	tcb = append(tcb, pceSVN, cpu)
	tcbSeq, err := sequence(tcb...)
	if err != nil {
		return nil, err
	}
	tcbOID, err := asn1.Marshal(oidTCB)
	if err != nil {
		return nil, err
	}
	tcbPair, err := sequence(tcbOID, tcbSeq)
	if err != nil {
		return nil, err
	}
	ppid, err := pair(oidPPID, bytes.Repeat([]byte{0xab}, 16))
	if err != nil {
		return nil, err
	}
	pceID, err := pair(oidPCEID, []byte{0, 0})
	if err != nil {
		return nil, err
	}
	fm, err := pair(oidFMSPC, fmspc[:])
	if err != nil {
		return nil, err
	}
	sgxType, err := pair(oidSGXType, asn1.Enumerated(0)) // 0: Standard
	if err != nil {
		return nil, err
	}
	return sequence(ppid, tcbPair, pceID, fm, sgxType)
}

func pair(oid asn1.ObjectIdentifier, value any) ([]byte, error) {
	o, err := asn1.Marshal(oid)
	if err != nil {
		return nil, err
	}
	v, err := asn1.Marshal(value)
	if err != nil {
		return nil, err
	}
	return sequence(o, v)
}

func sequence(parts ...[]byte) ([]byte, error) {
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: bytes.Join(parts, nil)})
}
