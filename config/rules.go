package config

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strings"
)

// The rules below are shared by Parse (which adds positions) and Validate
// (which checks a Config built or changed in code). Each returns "" when the
// value is fine, or a one-line message that starts with its subject and
// ends with a fix.

const exampleSteward = `"https://steward.example.com"`

func stewardProblem(s string) string {
	if s == "" {
		return "steward is empty: write a URL such as " + exampleSteward + ", or remove the key for no steward"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return fmt.Sprintf("steward %s is not a URL: write e.g. %s", quote(s), exampleSteward)
	}
	if u.User != nil {
		return fmt.Sprintf("steward %s carries a user name or password: remove it; the config is measured and shown to relying parties", quote(s))
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("steward %s has no host: write e.g. %s", quote(s), exampleSteward)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return fmt.Sprintf("steward %s uses plain http: use https; http is allowed only for localhost and loopback addresses", quote(s))
	}
	return fmt.Sprintf("steward %s has scheme %s: use https (or http for localhost)", quote(s), quote(u.Scheme))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

func argProblem(i int, s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Sprintf("args[%d] contains a NUL byte: remove it; WASI passes arguments as C strings", i)
	}
	return ""
}

// reservedEnv are variables the runtime sets from [[files]].
var reservedEnv = []string{"FD_COUNT", "FD_NAMES"}

func envNameProblem(name string) string {
	switch {
	case name == "":
		return "env has a variable with an empty name: remove it"
	case strings.IndexByte(name, '=') >= 0:
		return fmt.Sprintf("env variable name %s contains '=': remove the '='; a name cannot contain it", quote(name))
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Sprintf("env variable name %s contains a NUL byte: remove it", quote(name))
	}
	for _, r := range reservedEnv {
		if name == r {
			return fmt.Sprintf("env.%s is set by donjon from [[files]]: remove it", name)
		}
	}
	return ""
}

func envValueProblem(name, value string) string {
	if strings.IndexByte(value, 0) >= 0 {
		return fmt.Sprintf("env.%s contains a NUL byte: remove it; WASI passes the environment as C strings", name)
	}
	return ""
}

// entry names a [[files]] entry in messages; files[i] is fd i.
func entry(i int, k Kind) string {
	return fmt.Sprintf("files[%d] (kind %s)", i, quote(string(k)))
}

func nameProblem(subject, name string) string {
	switch {
	case name == "":
		return subject + " is empty: remove the key to use the default name"
	case strings.IndexByte(name, ':') >= 0:
		return fmt.Sprintf("%s %s contains ':': remove it; FD_NAMES joins the names with ':'", subject, quote(name))
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Sprintf("%s %s contains a NUL byte: remove it", subject, quote(name))
	}
	return ""
}

func portProblem(subject string, port int64) string {
	if port < 1 || port > 65535 {
		return fmt.Sprintf("%s %d is out of range: use a port from 1 to 65535", subject, port)
	}
	return ""
}

func protProblem(subject, prot string) string {
	switch Prot(prot) {
	case ProtTLS, ProtTCP:
		return ""
	}
	return fmt.Sprintf(`%s %s is not a protocol: use "tls" (the default) or "tcp"`, subject, quote(prot))
}

func addrProblem(subject, addr string) string {
	if _, err := netip.ParseAddr(addr); err != nil {
		return fmt.Sprintf(`%s %s is not an IP address: use e.g. "::" (every interface) or "127.0.0.1"`, subject, quote(addr))
	}
	return ""
}

// hostProblem checks the host a connect socket dials: an IP address or a
// DNS name, without a port.
func hostProblem(subject, host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	bad := func(fix string) string {
		return fmt.Sprintf("%s %s is not a host name or IP address: %s", subject, quote(host), fix)
	}
	switch {
	case host == "":
		return bad(`write e.g. "example.com" or "192.0.2.1"`)
	case strings.HasPrefix(host, "["):
		return bad("write the IPv6 address without brackets")
	case strings.Contains(host, ":"):
		return bad("put the port in port = ..., not in host")
	case len(host) > 253:
		return bad("a DNS name has at most 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return bad(`each dot-separated part must have 1 to 63 characters, e.g. "example.com"`)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad(`use letters, digits, '-' and '.', e.g. "example.com"`)
			}
		}
	}
	return ""
}

func hostPathProblem(subject, p string) string {
	switch {
	case p == "":
		return subject + ` is empty: write the host directory, e.g. "data"`
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Sprintf("%s %s contains a NUL byte: remove it", subject, quote(p))
	}
	return ""
}

func guestProblem(subject, g string) string {
	switch {
	case g == "":
		return subject + ` is empty: write an absolute guest path, e.g. "/data"`
	case strings.IndexByte(g, 0) >= 0:
		return fmt.Sprintf("%s %s contains a NUL byte: remove it", subject, quote(g))
	case !strings.HasPrefix(g, "/"):
		return fmt.Sprintf("%s %s is not absolute: write %s", subject, quote(g), quote(path.Clean("/"+g)))
	case path.Clean(g) != g:
		return fmt.Sprintf("%s %s is not clean: write %s", subject, quote(g), quote(path.Clean(g)))
	}
	return ""
}

const preopenReason = "WASI guests find preopened directories by scanning fds from 3 and stop at the first fd that is not one"

// filesProblem checks the rules between entries. It returns the index of
// the offending entry and the message, or -1 and "".
func filesProblem(files []File) (int, string) {
	guests := make(map[string]int)
	firstOther := -1 // first fd >= 3 that is not a dir
	for i, f := range files {
		if f.Kind != KindDir {
			if i >= 3 && firstOther < 0 {
				firstOther = i
			}
			continue
		}
		if i < 3 {
			return i, fmt.Sprintf("%s is fd %d: put dir entries after stdin, stdout and stderr, from fd 3 on; %s", entry(i, f.Kind), i, preopenReason)
		}
		if firstOther >= 0 {
			o := files[firstOther]
			return i, fmt.Sprintf("%s comes after %s: move dir entries right after stdin, stdout and stderr, before entries of other kinds; %s",
				entry(i, f.Kind), entry(firstOther, o.Kind), preopenReason)
		}
		if j, dup := guests[f.Guest]; dup {
			return i, fmt.Sprintf("files[%d].guest %s is already the guest path of files[%d]: give each dir its own guest path", i, quote(f.Guest), j)
		}
		guests[f.Guest] = i
	}
	return -1, ""
}

// caProblem checks a socket's trust anchors: a keyword or PEM certificates.
func caProblem(subject string, kind Kind, ca string) string {
	switch ca {
	case CASteward:
		return ""
	case CASystem:
		if kind == KindConnect {
			return ""
		}
		return fmt.Sprintf(`%s "system" would accept any client with a certificate from a public CA: use "steward" or the PEM text of the CA that issues your clients' certificates`, subject)
	}
	if !strings.Contains(ca, "-----BEGIN") {
		words := `"steward"`
		if kind == KindConnect {
			words = `"system", "steward"`
		}
		return fmt.Sprintf("%s %s is not a CA: use %s or the PEM text of CA certificates (a multi-line string starting -----BEGIN CERTIFICATE-----)", subject, quote(ca), words)
	}
	if _, err := ParseCAs(ca); err != nil {
		return fmt.Sprintf("%s: %v", subject, err)
	}
	return ""
}

// ParseCAs parses the PEM text of a socket's CA: one or more CERTIFICATE
// blocks and nothing else.
func ParseCAs(text string) ([]*x509.Certificate, error) {
	rest := []byte(text)
	var certs []*x509.Certificate
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %s is not a CERTIFICATE: give only CA certificates, never a key", quote(block.Type))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("text after certificate %d is not PEM: give only -----BEGIN CERTIFICATE----- blocks", len(certs))
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in the PEM text")
	}
	return certs, nil
}

// peerProblem checks a socket's peer keys together. It returns the key to
// point at and the message.
func peerProblem(i int, kind Kind, prot Prot, p Peer) (string, string) {
	caKey := "ca"
	if kind == KindListen {
		caKey = "client_ca"
	}
	var set []string
	if p.CA != "" {
		set = append(set, caKey)
	}
	if p.Keep {
		set = append(set, "require")
	}
	if len(p.Modules) > 0 {
		set = append(set, "peer_modules")
	}
	if len(p.Configs) > 0 {
		set = append(set, "peer_configs")
	}
	if p.AllowInsecure {
		set = append(set, "allow_insecure")
	}
	if prot == ProtTCP && len(set) > 0 {
		return set[0], fmt.Sprintf(`%s has prot = "tcp" and %s: a plain TCP socket authenticates nobody; remove %s or use prot = "tls"`, entry(i, kind), set[0], set[0])
	}
	if !p.Keep {
		for _, k := range set {
			if k != caKey {
				return k, fmt.Sprintf(`files[%d].%s applies to keep peers: add require = "keep" or remove it`, i, k)
			}
		}
	}
	if p.Keep && p.CA == CASystem {
		return caKey, fmt.Sprintf(`files[%d].%s "system" cannot certify keeps: remove it (keep peers are checked against the steward's CA) or name the CA that certifies them`, i, caKey)
	}
	return "", ""
}

// parseDigest reads a SHA-256 digest written in hex.
func parseDigest(subject, s string) ([32]byte, string) {
	var d [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Sprintf("%s %s is not a SHA-256 digest: write 64 hex digits, as sha256sum prints them", subject, quote(s))
	}
	copy(d[:], b)
	return d, ""
}

// tlsNameProblem checks one name of [tls] names: a DNS name or an IP
// address. Wildcards are not requested by keeps: a keep is one server.
func tlsNameProblem(subject, name string) string {
	if _, err := netip.ParseAddr(name); err == nil {
		return ""
	}
	if strings.HasPrefix(name, "*") {
		return fmt.Sprintf("%s %s is a wildcard: list the names the keep serves one by one", subject, quote(name))
	}
	if strings.HasSuffix(name, ".") {
		return fmt.Sprintf("%s %s ends with a dot: write %s", subject, quote(name), quote(strings.TrimSuffix(name, ".")))
	}
	if msg := hostProblem(subject, name); msg != "" {
		return msg
	}
	if strings.ContainsRune(name, '_') {
		return fmt.Sprintf("%s %s contains '_', which certificates do not allow in host names", subject, quote(name))
	}
	return ""
}

// tlsNamesProblem checks [tls] names as a whole.
func tlsNamesProblem(names []string) string {
	seen := map[string]bool{}
	for _, n := range names {
		k := strings.ToLower(n)
		if seen[k] {
			return fmt.Sprintf("tls.names lists %s twice: keep one", quote(n))
		}
		seen[k] = true
	}
	if len(names) > 100 {
		return fmt.Sprintf("tls.names has %d names, more than 100: a keep serves a few names", len(names))
	}
	return ""
}
