package sgx

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// OIDSGXExtensions is the PCK certificate extension holding the platform's SGX identity and
// TCB (Intel SGX PCK Certificate and CRL Profile).
var OIDSGXExtensions = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}

// Sub-identifiers under OIDSGXExtensions, and under its TCB entry (.2).
const (
	pckPPID    = 1
	pckTCB     = 2
	pckPCEID   = 3
	pckFMSPC   = 4
	pckSGXType = 5

	tcbComponents = 16 // .2.1 to .2.16: SGX TCB component SVNs
	tcbPCESVN     = 17
	tcbCPUSVN     = 18

	maxPCKEntries = 16 // Intel defines 7 top-level entries
)

// PCKTCB is the TCB a PCK certificate was issued for: the basis of the TCB appraisal.
type PCKTCB struct {
	// Components are the 16 SGX TCB component SVNs, compared with TCB info's sgxtcbcomponents.
	Components [16]byte
	PCESVN     uint16
	// CPUSVN is the raw CPUSVN the certificate was issued for.
	CPUSVN [16]byte
}

// pckExtensions are the fields of the SGX extension that verification uses.
type pckExtensions struct {
	ppid  []byte // 16 bytes
	tcb   PCKTCB
	pceID []byte // 2 bytes
	fmspc []byte // 6 bytes
}

type oidEntry struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

// parsePCKExtensions decodes the SGX extension of a PCK certificate. Unknown entries (the
// platform CA's instance ID and configuration) are skipped; the ones used must each appear
// exactly once with the expected type and size.
func parsePCKExtensions(cert *x509.Certificate) (*pckExtensions, error) {
	var value []byte
	for _, e := range cert.Extensions {
		if e.Id.Equal(OIDSGXExtensions) {
			if value != nil {
				return nil, fmt.Errorf("%w: PCK certificate has two SGX extensions", ErrMalformed)
			}
			value = e.Value
		}
	}
	if value == nil {
		return nil, fmt.Errorf("%w: PCK certificate has no SGX extension (%s)", ErrMalformed, OIDSGXExtensions)
	}
	entries, err := parseOIDEntries(value, "SGX extension")
	if err != nil {
		return nil, err
	}
	var ext pckExtensions
	seen := map[int]bool{}
	for _, e := range entries {
		n, ok := childOf(e.ID, OIDSGXExtensions)
		if !ok {
			return nil, fmt.Errorf("%w: PCK SGX extension: unexpected entry %s", ErrMalformed, e.ID)
		}
		if n > pckSGXType {
			continue
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: PCK SGX extension: entry %s appears twice", ErrMalformed, e.ID)
		}
		seen[n] = true
		switch n {
		case pckPPID:
			ext.ppid, err = octets(e, 16)
		case pckTCB:
			ext.tcb, err = parsePCKTCB(e)
		case pckPCEID:
			ext.pceID, err = octets(e, 2)
		case pckFMSPC:
			ext.fmspc, err = octets(e, 6)
		case pckSGXType:
			var t asn1.Enumerated
			err = unmarshalAll(e.Value.FullBytes, &t)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: PCK SGX extension entry %s: %v", ErrMalformed, e.ID, err)
		}
	}
	for _, n := range []int{pckPPID, pckTCB, pckPCEID, pckFMSPC, pckSGXType} {
		if !seen[n] {
			return nil, fmt.Errorf("%w: PCK SGX extension lacks entry %s.%d", ErrMalformed, OIDSGXExtensions, n)
		}
	}
	return &ext, nil
}

func parsePCKTCB(e oidEntry) (PCKTCB, error) {
	var tcb PCKTCB
	entries, err := parseOIDEntries(e.Value.FullBytes, "TCB")
	if err != nil {
		return tcb, err
	}
	tcbOID := append(OIDSGXExtensions[:len(OIDSGXExtensions):len(OIDSGXExtensions)], pckTCB)
	seen := map[int]bool{}
	for _, c := range entries {
		n, ok := childOf(c.ID, tcbOID)
		if !ok || n < 1 || n > tcbCPUSVN {
			return tcb, fmt.Errorf("unexpected TCB entry %s", c.ID)
		}
		if seen[n] {
			return tcb, fmt.Errorf("TCB entry %s appears twice", c.ID)
		}
		seen[n] = true
		switch {
		case n <= tcbComponents:
			svn, err := svnInt(c, 0xff)
			if err != nil {
				return tcb, err
			}
			tcb.Components[n-1] = byte(svn)
		case n == tcbPCESVN:
			svn, err := svnInt(c, 0xffff)
			if err != nil {
				return tcb, err
			}
			tcb.PCESVN = uint16(svn)
		case n == tcbCPUSVN:
			b, err := octets(c, 16)
			if err != nil {
				return tcb, err
			}
			copy(tcb.CPUSVN[:], b)
		}
	}
	if len(seen) != tcbCPUSVN {
		return tcb, fmt.Errorf("TCB has %d of its %d entries", len(seen), tcbCPUSVN)
	}
	return tcb, nil
}

func parseOIDEntries(der []byte, what string) ([]oidEntry, error) {
	var entries []oidEntry
	if err := unmarshalAll(der, &entries); err != nil {
		return nil, fmt.Errorf("%w: PCK %s: %v", ErrMalformed, what, err)
	}
	if len(entries) > maxPCKEntries+tcbCPUSVN {
		return nil, fmt.Errorf("%w: PCK %s has %d entries", ErrMalformed, what, len(entries))
	}
	return entries, nil
}

func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes", len(rest))
	}
	return nil
}

// childOf returns n when id is parent.n.
func childOf(id, parent asn1.ObjectIdentifier) (int, bool) {
	if len(id) != len(parent)+1 || !id[:len(parent)].Equal(parent) {
		return 0, false
	}
	return id[len(parent)], true
}

func octets(e oidEntry, size int) ([]byte, error) {
	var b []byte
	if err := unmarshalAll(e.Value.FullBytes, &b); err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}

func svnInt(e oidEntry, maximum int) (int, error) {
	var v int
	if err := unmarshalAll(e.Value.FullBytes, &v); err != nil {
		return 0, fmt.Errorf("entry %s: %v", e.ID, err)
	}
	if v < 0 || v > maximum {
		return 0, fmt.Errorf("entry %s: SVN %d out of range 0..%d", e.ID, v, maximum)
	}
	return v, nil
}
