package policy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// RuleCertificateNames refuses a keep that asks for certificate names the
// policy does not list. It applies to a request, not to claims: a steward
// calls CheckNames with the names of a keep's CSR.
const RuleCertificateNames = "certificate.names"

// CheckNames tells whether a keep may have a certificate for the DNS names
// and IP addresses it asks for. The error is a *Violation of
// RuleCertificateNames naming the first name not allowed.
func (p *Policy) CheckNames(dns []string, ips []net.IP) error {
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok || !p.grantsIP(a.Unmap()) {
			return p.namesViolation(ip.String())
		}
	}
	for _, n := range dns {
		if !p.grantsDNS(n) {
			return p.namesViolation(n)
		}
	}
	return nil
}

func (p *Policy) namesViolation(name string) error {
	allowed := "the policy grants no names"
	if len(p.CertificateNames) > 0 {
		allowed = "the policy grants " + strings.Join(p.CertificateNames, ", ")
	}
	return &Violation{Rule: RuleCertificateNames, Reason: fmt.Sprintf("the keep asks for a certificate for %s and %s: list it in [certificate] names, or remove it from the keep's [tls] names", quote(name), allowed)}
}

func (p *Policy) grantsIP(a netip.Addr) bool {
	for _, pat := range p.CertificateNames {
		if b, err := netip.ParseAddr(pat); err == nil && b.Unmap() == a {
			return true
		}
	}
	return false
}

func (p *Policy) grantsDNS(name string) bool {
	name = strings.ToLower(name)
	for _, pat := range p.CertificateNames {
		pat = strings.ToLower(pat)
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			label, rest, found := strings.Cut(name, ".")
			if found && label != "" && rest == suffix {
				return true
			}
			continue
		}
		if pat == name {
			return true
		}
	}
	return false
}

// namePatternProblem checks one [certificate] names entry: an IP address, a
// DNS name, or "*." and a DNS name.
func namePatternProblem(pat string) string {
	if _, err := netip.ParseAddr(pat); err == nil {
		return ""
	}
	name := strings.TrimPrefix(pat, "*.")
	if strings.Contains(name, "*") {
		return `has a wildcard elsewhere than a leading "*.": write "app.example.com" or "*.example.com"`
	}
	if name == "" || len(name) > 253 || strings.HasSuffix(name, ".") {
		return `is not a DNS name: write e.g. "app.example.com" (no trailing dot)`
	}
	labels := strings.Split(name, ".")
	if strings.HasPrefix(pat, "*.") && len(labels) < 2 {
		return `would cover a whole top-level domain: write e.g. "*.example.com"`
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return `is not a DNS name: each dot-separated label has 1 to 63 letters, digits or '-', not at either end`
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return `is not a DNS name: use letters, digits, '-' and '.'`
			}
		}
	}
	return ""
}
