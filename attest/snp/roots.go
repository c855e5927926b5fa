package snp

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"github.com/google/go-sev-guest/verify/trust"
)

// Product lines that AMD's KDS knows and go-sev-guest embeds roots for.
const (
	Milan = "Milan"
	Genoa = "Genoa"
	Turin = "Turin"
)

// Root is one trust anchor for VCEKs of one product line: AMD's root key
// (ARK, self-signed) and the signing key (ASK) it certified.
type Root struct {
	Product string // "Milan", "Genoa" or "Turin"
	ARK     *x509.Certificate
	ASK     *x509.Certificate
}

// DefaultRoots returns AMD's ARK/ASK pairs for Milan, Genoa and Turin as
// embedded in go-sev-guest. A fresh slice each call, so callers may edit it.
func DefaultRoots() []Root {
	var roots []Root
	for _, product := range []string{Milan, Genoa, Turin} {
		r, ok := trust.DefaultRootCerts[product]
		if !ok || r == nil || r.ProductCerts == nil || r.ProductCerts.Ark == nil || r.ProductCerts.Ask == nil {
			continue
		}
		roots = append(roots, Root{Product: product, ARK: r.ProductCerts.Ark, ASK: r.ProductCerts.Ask})
	}
	return roots
}

// maxPKIPath bounds a PkiPath read from a file or the network.
const maxPKIPath = 64 << 10

// RootFromPKIPath reads a DER PkiPath (SEQUENCE OF Certificate) holding an
// ARK and its ASK, in either order, as Enarx's steward ships them.
func RootFromPKIPath(product string, der []byte) (Root, error) {
	if len(der) > maxPKIPath {
		return Root{}, fmt.Errorf("%w: PkiPath is %d bytes, limit %d", ErrMalformed, len(der), maxPKIPath)
	}
	var raws []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raws)
	if err != nil {
		return Root{}, fmt.Errorf("%w: PkiPath: %v", ErrMalformed, err)
	}
	if len(rest) != 0 || len(raws) != 2 {
		return Root{}, fmt.Errorf("%w: PkiPath must hold exactly an ARK and an ASK and nothing after", ErrMalformed)
	}
	var root Root
	root.Product = product
	for i, raw := range raws {
		cert, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return Root{}, fmt.Errorf("%w: PkiPath certificate %d: %v", ErrMalformed, i, err)
		}
		if cert.CheckSignatureFrom(cert) == nil {
			root.ARK = cert
		} else {
			root.ASK = cert
		}
	}
	if root.ARK == nil || root.ASK == nil {
		return Root{}, fmt.Errorf("%w: PkiPath must hold one self-signed ARK and one ASK", ErrMalformed)
	}
	if err := root.ASK.CheckSignatureFrom(root.ARK); err != nil {
		return Root{}, fmt.Errorf("%w: PkiPath ASK is not signed by its ARK: %v", ErrUntrustedChain, err)
	}
	return root, nil
}
