package kds

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

// amdOIDPrefix is the arc of the VCEK extensions in AMD's KDS certificate
// profile: .3.N for security patch levels, .4 for the hardware id.
const amdOIDPrefix = "1.3.6.1.4.1.3704.1."

// parseVCEK reads a certificate (DER, or PEM for files people saved by hand)
// and checks that it names the chip and TCB of req. It returns the DER.
// This keeps a wrong file out of the cache; it is no substitute for the
// verifier's chain and signature checks.
func parseVCEK(data []byte, req VCEKRequest) ([]byte, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil && block.Type == "CERTIFICATE" {
		der = block.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("not an X.509 certificate (%s): %v", sniff(data), err)
	}
	var hwid []byte
	spls := map[string]int{}
	for _, ext := range cert.Extensions {
		id := ext.Id.String()
		switch {
		case id == amdOIDPrefix+"4":
			hwid = ext.Value
		case strings.HasPrefix(id, amdOIDPrefix+"3."):
			var v int
			if rest, err := asn1.Unmarshal(ext.Value, &v); err != nil || len(rest) != 0 {
				return nil, fmt.Errorf("certificate extension %s is not an INTEGER", id)
			}
			spls[id] = v
		}
	}
	if hwid == nil {
		return nil, fmt.Errorf("certificate %q has no AMD hardware id extension: not a VCEK", cert.Subject.CommonName)
	}
	if !sameChip(hwid, req) {
		return nil, fmt.Errorf("the certificate is the VCEK of another chip")
	}
	for _, s := range req.spls() {
		id := fmt.Sprintf("%s3.%d", amdOIDPrefix, s.arc)
		got, ok := spls[id]
		switch {
		case !ok && s.name == "fmcSPL":
			// Tolerated: the verifier compares the whole TCB anyway.
		case !ok:
			return nil, fmt.Errorf("the certificate has no %s extension: not a VCEK", s.name)
		case got != int(s.value):
			return nil, fmt.Errorf("the certificate is the VCEK for %s=%d, the report needs %d", s.name, got, s.value)
		}
	}
	return der, nil
}

// sameChip compares a hardware id extension with the request's chip. KDS
// writes the id as raw bytes (no DER tag); a tagged OCTET STRING is
// accepted too. Turin ids may be 8 bytes, or 64 padded with zeros.
func sameChip(ext []byte, req VCEKRequest) bool {
	id := ext
	if len(id) != chipIDSize && len(id) != turinHWIDSize {
		var inner []byte
		if rest, err := asn1.Unmarshal(ext, &inner); err != nil || len(rest) != 0 {
			return false
		}
		id = inner
	}
	want := req.HWID()
	switch {
	case len(id) == len(want):
		return bytes.Equal(id, want)
	case req.Product() == Turin && len(id) == chipIDSize:
		return bytes.Equal(id[:turinHWIDSize], want) && allZero(id[turinHWIDSize:])
	}
	return false
}

// parseCRL reads a CRL, DER or PEM, and returns it with its DER.
func parseCRL(data []byte) (*x509.RevocationList, []byte, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil && block.Type == "X509 CRL" {
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, fmt.Errorf("not an X.509 CRL (%s): %v", sniff(data), err)
	}
	return crl, der, nil
}

// sniff says in a few words what a body that failed to parse looks like,
// so that an HTML error page or a proxy's answer is recognisable in a log.
func sniff(data []byte) string {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(data) == 0:
		return "empty"
	case bytes.HasPrefix(bytes.ToLower(trimmed), []byte("<!doctype html")), bytes.HasPrefix(bytes.ToLower(trimmed), []byte("<html")):
		return fmt.Sprintf("%d bytes of HTML", len(data))
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN")):
		return fmt.Sprintf("%d bytes of PEM", len(data))
	}
	return fmt.Sprintf("%d bytes", len(data))
}
