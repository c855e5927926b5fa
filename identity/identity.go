// Package identity gives a keep its identity: a P-384 key generated inside
// the keep, hardware evidence binding that key to the workload, and from
// them a self-signed certificate (RA-TLS style, when no steward is
// configured) or a CSR for a steward. The private key never leaves the
// Identity.
package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"

	"donjon.dev/attest"
	"donjon.dev/tee"
)

// Subject common names of a keep's certificates. The nil backend's says
// INSECURE so that whoever looks at the certificate sees what it is worth.
const (
	CommonName         = "donjon keep"
	CommonNameInsecure = "donjon keep INSECURE (nil backend, no hardware protection)"
)

// Identity is a keep's key and the evidence that binds it to the workload.
type Identity struct {
	key      *ecdsa.PrivateKey
	spki     []byte
	evidence attest.Evidence
	claims   *attest.Claims
}

// New generates the keep's key, asks platform for evidence over
// attest.ReportData(SPKI, module, config) and checks that the evidence it
// got back carries exactly that report data.
func New(ctx context.Context, platform tee.Platform, module, config [32]byte) (*Identity, error) {
	if platform == nil {
		return nil, errors.New("identity: no TEE platform given")
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("identity: encode public key: %w", err)
	}
	reportData := attest.ReportData(spki, module, config)
	tev, err := platform.Evidence(ctx, reportData)
	if err != nil {
		return nil, fmt.Errorf("identity: evidence from the %s backend: %w", platform.Name(), err)
	}
	if tev.ReportData != reportData {
		return nil, fmt.Errorf("identity: the %s backend returned evidence for other report data", platform.Name())
	}
	ev, err := evidenceOf(tev)
	if err != nil {
		return nil, err
	}
	claims, err := attest.DeclaredClaims(ev, module, config)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &Identity{key: key, spki: spki, evidence: ev, claims: claims}, nil
}

// DeclarePlaintext states, in the certificates and requests made from now
// on, that the workload has a plain TCP socket or a plain host directory
// (attest.Claims.Plaintext). The keep's runtime calls it before asking for
// a certificate; the statement is signed with the key the evidence binds.
func (id *Identity) DeclarePlaintext(plaintext bool) {
	id.claims.Plaintext = plaintext
}

// evidenceOf converts a backend's evidence to the extension's form.
func evidenceOf(tev *tee.Evidence) (attest.Evidence, error) {
	switch tev.Format {
	case tee.FormatNil:
		return attest.Evidence{Platform: attest.PlatformNil, Report: attest.NilEvidence(tev.ReportData)}, nil
	case tee.FormatSNP:
		certs, err := marshalCertTable(tev.CertTable)
		if err != nil {
			return attest.Evidence{}, err
		}
		return attest.Evidence{Platform: attest.PlatformSNP, Report: tev.Report, Certs: certs}, nil
	case tee.FormatTDX:
		return attest.Evidence{Platform: attest.PlatformTDX, Report: tev.Report}, nil
	}
	return attest.Evidence{}, fmt.Errorf("identity: the backend produced evidence of unknown format %q", tev.Format)
}

// marshalCertTable lays the parsed table out again in the firmware's GUID
// table format, which the evidence extension carries.
func marshalCertTable(t tee.CertTable) ([]byte, error) {
	var table abi.CertTable
	for _, e := range t {
		guid, err := uuid.Parse(e.GUID)
		if err != nil {
			return nil, fmt.Errorf("identity: snp certificate table entry %q: %w", e.GUID, err)
		}
		table.Entries = append(table.Entries, abi.CertTableEntry{GUID: guid, RawCert: e.Data})
	}
	return table.Marshal(), nil
}

// Signer returns the keep's private key as a signer, for TLS.
func (id *Identity) Signer() crypto.Signer { return id.key }

// PublicKeyDER returns the key's SubjectPublicKeyInfo DER (a copy).
func (id *Identity) PublicKeyDER() []byte { return append([]byte(nil), id.spki...) }

// Evidence returns the evidence bound to the key (a copy).
func (id *Identity) Evidence() attest.Evidence {
	return attest.Evidence{
		Platform: id.evidence.Platform,
		Report:   append([]byte(nil), id.evidence.Report...),
		Certs:    append([]byte(nil), id.evidence.Certs...),
	}
}

func (id *Identity) commonName() string {
	if id.claims.Insecure {
		return CommonNameInsecure
	}
	return CommonName
}

// SelfSigned returns a DER certificate for the key, signed by the key
// itself, valid from now for validity, carrying the evidence and claims
// extensions, and names (DNS names or IP addresses) as subject alternative
// names. Relying parties check it with attest.VerifySelfSigned.
func (id *Identity) SelfSigned(now time.Time, validity time.Duration, names ...string) ([]byte, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("identity: certificate validity %s must be positive", validity)
	}
	evExt, err := id.evidence.Extension()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	claimsExt, err := id.claims.Extension()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("identity: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: id.commonName()},
		NotBefore:       now,
		NotAfter:        now.Add(validity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{evExt, claimsExt},
	}
	tmpl.DNSNames, tmpl.IPAddresses = SplitNames(names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &id.key.PublicKey, id.key)
	if err != nil {
		return nil, fmt.Errorf("identity: self-sign certificate: %w", err)
	}
	return der, nil
}

// CSR returns a DER PKCS#10 request for the key, for a steward. It carries
// the evidence extension and the claims extension, which states the
// workload digests the evidence binds (the steward cannot recompute the
// report data without them); the steward checks both with attest.VerifyCSR.
// names (DNS names or IP addresses) are the subject alternative names the
// keep asks for; a steward grants only those its policy lists.
func (id *Identity) CSR(names ...string) ([]byte, error) {
	evExt, err := id.evidence.Extension()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	claimsExt, err := id.claims.Extension()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: id.commonName()},
		ExtraExtensions: []pkix.Extension{evExt, claimsExt},
	}
	tmpl.DNSNames, tmpl.IPAddresses = SplitNames(names)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, id.key)
	if err != nil {
		return nil, fmt.Errorf("identity: certificate request: %w", err)
	}
	return der, nil
}

// SplitNames sorts certificate names into DNS names and IP addresses.
func SplitNames(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil {
			ips = append(ips, ip.AsSlice())
		} else {
			dns = append(dns, n)
		}
	}
	return dns, ips
}
