package steward

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// CA is the steward's certificate authority: the certificate relying parties
// trust and the key that signs keep certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Files of a steward's state directory.
const (
	CAKeyFile  = "ca.key" // PKCS#8 PEM, mode 0600
	CACertFile = "ca.pem" // the certificate relying parties trust
	LogFile    = "log.db" // the issuance log (SQLite)
	caLifetime = 5 * 365 * 24 * time.Hour
)

// maxPEMFile bounds the CA files read at start.
const maxPEMFile = 1 << 20

// Fingerprint is the SHA-256 of the CA certificate's DER, in hex, for people
// to compare out of band.
func (ca *CA) Fingerprint() string {
	sum := sha256.Sum256(ca.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// PEM returns the CA certificate in PEM.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// LoadCA reads a CA certificate and its private key from PEM files and checks
// that they belong together and that the certificate may sign certificates.
// The key file must not be readable by group or others.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := readSmall(certFile)
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("steward: CA certificate %s: %w", certFile, err)
	}
	info, err := os.Stat(keyFile)
	if err != nil {
		return nil, fmt.Errorf("steward: CA key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("steward: CA key %s has mode %04o: anyone who can read it can issue keep certificates; run chmod 600 %s", keyFile, info.Mode().Perm(), keyFile)
	}
	keyPEM, err := readSmall(keyFile)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("steward: CA key %s: %w", keyFile, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("steward: CA certificate %s is not a CA certificate that may sign certificates (basic constraints CA and key usage certSign)", certFile)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("steward: CA key %s does not belong to certificate %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadOrCreateCA loads the CA from dir, or, when dir holds neither file,
// generates a P-384 CA valid from now and writes it there (key 0600). It never
// overwrites: one file without the other is an error to resolve by hand.
func LoadOrCreateCA(dir, name string, now time.Time) (ca *CA, created bool, err error) {
	certFile, keyFile := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	switch {
	case certErr == nil && keyErr == nil:
		ca, err := LoadCA(certFile, keyFile)
		return ca, false, err
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	case certErr == nil || keyErr == nil:
		return nil, false, fmt.Errorf("steward: %s holds only one of %s and %s; restore the other or remove both to generate a new CA (every certificate it issued becomes untrusted)", dir, CACertFile, CAKeyFile)
	default:
		return nil, false, fmt.Errorf("steward: state directory: %w", errors.Join(certErr, keyErr))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("steward: state directory: %w", err)
	}
	ca, keyDER, err := newCA(name, now)
	if err != nil {
		return nil, false, err
	}
	// The key first, exclusively: a crash between the two leaves a key
	// without a certificate, which the next start reports instead of
	// silently making a second CA.
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, false, err
	}
	if err := writeNew(certFile, ca.PEM(), 0o644); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

func newCA(name string, now time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: parse new CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("steward: encode CA key: %w", err)
	}
	return &CA{Cert: cert, Key: key}, keyDER, nil
}

// randomSerial is a positive 127-bit serial number (RFC 5280: at most 20
// octets; CA/B Forum: at least 64 random bits).
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("steward: certificate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("steward: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("steward: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("steward: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("steward: close %s: %w", path, err)
	}
	return nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("steward: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("steward: read %s: %w", path, err)
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("steward: %s is larger than %d bytes; is it the right file?", path, maxPEMFile)
	}
	return data, nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q, want PRIVATE KEY (PKCS#8) or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", key)
	}
	return signer, nil
}
