package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

const digestA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParsePeer(t *testing.T) {
	ca := testCAPEM(t)
	c := mustParse(t, withStdio(
		`[[files]]`, `name = "api"`, `kind = "listen"`, `port = 8443`,
		`require = "keep"`, `peer_modules = ["`+strings.ToUpper(digestA)+`"]`, `peer_configs = ["`+digestA+`"]`, `allow_insecure = true`,
		`[[files]]`, `name = "db"`, `kind = "connect"`, `host = "db.example.com"`, `port = 5432`, `ca = '''`+ca+`'''`,
		`[[files]]`, `name = "peer"`, `kind = "connect"`, `host = "127.0.0.1"`, `port = 9000`, `require = "keep"`, `ca = "steward"`,
		`[[files]]`, `name = "mtls"`, `kind = "listen"`, `port = 9443`, `client_ca = "steward"`,
		`[tls]`, `names = ["localhost", "127.0.0.1", "::1", "app.example.com"]`,
	))
	api, db, peer, mtls := c.Files[3].Peer, c.Files[4].Peer, c.Files[5].Peer, c.Files[6].Peer
	if !api.Keep || len(api.Modules) != 1 || len(api.Configs) != 1 || !api.AllowInsecure || api.CA != "" {
		t.Errorf("api peer = %+v", api)
	}
	if api.Modules[0] != api.Configs[0] || api.Modules[0][0] != 0xe3 {
		t.Errorf("digests parsed as %x, %x", api.Modules[0], api.Configs[0])
	}
	if db.Keep || db.CA != ca {
		t.Errorf("db peer = %+v", db)
	}
	if !peer.Keep || peer.CA != CASteward {
		t.Errorf("peer = %+v", peer)
	}
	if mtls.Keep || mtls.CA != CASteward || !mtls.Authenticated(KindListen) {
		t.Errorf("mtls peer = %+v", mtls)
	}
	if (Peer{}).Authenticated(KindListen) || !(Peer{}).Authenticated(KindConnect) {
		t.Error("Authenticated: a listen socket without client_ca asks for no certificate; a connect socket always checks")
	}
	if got := strings.Join(c.TLS.Names, ","); got != "localhost,127.0.0.1,::1,app.example.com" {
		t.Errorf("tls names = %q", got)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate on a parsed config: %v", err)
	}
}

func TestParsePeerErrors(t *testing.T) {
	ca := testCAPEM(t)
	listen := func(lines ...string) string {
		return withStdio(append([]string{`[[files]]`, `kind = "listen"`, `port = 1`}, lines...)...)
	}
	connect := func(lines ...string) string {
		return withStdio(append([]string{`[[files]]`, `kind = "connect"`, `host = "h"`, `port = 1`}, lines...)...)
	}
	tests := []struct {
		name string
		src  string
		line int
		want []string
	}{
		{"client_ca system", listen(`client_ca = "system"`), 10, []string{`files[3].client_ca "system" would accept any client`}},
		{"client_ca word", listen(`client_ca = "stewart"`), 10, []string{`files[3].client_ca "stewart" is not a CA: use "steward" or the PEM text`}},
		{"ca word", connect(`ca = "public"`), 11, []string{`files[3].ca "public" is not a CA: use "system", "steward" or`}},
		{"ca on listen", listen(`ca = "steward"`), 10, []string{`unknown key "ca" in files[3] (kind "listen"): remove it; ca applies to connect`}},
		{"client_ca on connect", connect(`client_ca = "steward"`), 11, []string{`client_ca applies to listen`}},
		{"ca bad PEM", connect("ca = '''-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'''"), 11, []string{"files[3].ca: certificate 1:"}},
		{"ca private key", connect("ca = '''-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'''"), 11, []string{`PEM block "PRIVATE KEY" is not a CERTIFICATE`}},
		{"ca trailing junk", connect("ca = '''" + ca + "junk'''"), 11, []string{"text after certificate 1 is not PEM"}},
		{"require other", listen(`require = "client"`), 10, []string{`files[3].require "client" is not a requirement: write require = "keep"`}},
		{"modules without require", listen(`peer_modules = ["` + digestA + `"]`), 10, []string{`files[3].peer_modules applies to keep peers: add require = "keep"`}},
		{"allow_insecure without require", connect(`allow_insecure = true`), 11, []string{`files[3].allow_insecure applies to keep peers`}},
		{"allow_insecure not bool", listen(`require = "keep"`, `allow_insecure = "yes"`), 11, []string{"files[3].allow_insecure must be a boolean"}},
		{"tcp with client_ca", listen(`prot = "tcp"`, `client_ca = "steward"`), 11, []string{`has prot = "tcp" and client_ca: a plain TCP socket authenticates nobody`}},
		{"tcp with require", connect(`prot = "tcp"`, `require = "keep"`), 12, []string{`prot = "tcp" and require`}},
		{"keep with system", connect(`require = "keep"`, `ca = "system"`), 12, []string{`files[3].ca "system" cannot certify keeps`}},
		{"bad digest", listen(`require = "keep"`, `peer_configs = ["abc"]`), 11, []string{`files[3].peer_configs[0] "abc" is not a SHA-256 digest: write 64 hex digits`}},
		{"digests not array", listen(`require = "keep"`, `peer_modules = "`+digestA+`"`), 11, []string{"files[3].peer_modules must be an array of SHA-256 digests in hex, not a string"}},
		{"digest not string", listen(`require = "keep"`, `peer_modules = [1]`), 11, []string{"files[3].peer_modules[0] must be a string, not an integer"}},

		{"tls not table", doc(`tls = "yes"`), 1, []string{"tls must be a table, not a string"}},
		{"tls unknown key", doc(`[tls]`, `name = ["a"]`), 2, []string{`unknown key "name" in [tls]: did you mean "names"?`}},
		{"tls names not array", doc(`[tls]`, `names = "a"`), 2, []string{"tls.names must be an array of strings"}},
		{"tls name wildcard", doc(`[tls]`, `names = ["*.example.com"]`), 2, []string{`tls.names[0] "*.example.com" is a wildcard`}},
		{"tls name port", doc(`[tls]`, `names = ["localhost:8443"]`), 2, []string{"put the port in port"}},
		{"tls name underscore", doc(`[tls]`, `names = ["my_app.local"]`), 2, []string{"contains '_'"}},
		{"tls name trailing dot", doc(`[tls]`, `names = ["example.com."]`), 2, []string{`ends with a dot: write "example.com"`}},
		{"tls name twice", doc(`[tls]`, `names = ["a.example", "A.example"]`), 2, []string{`tls.names lists "A.example" twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(FileName, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != tt.line {
				t.Errorf("error %v: want line %d", err, tt.line)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestValidatePeer(t *testing.T) {
	base := func(f File) *Config {
		c := Default()
		c.Files = append(c.Files, f)
		return c
	}
	good := File{Kind: KindConnect, Host: "h", Port: 1, Prot: ProtTLS, Peer: Peer{Keep: true, AllowInsecure: true}}
	if err := base(good).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for name, tt := range map[string]struct {
		f    File
		want string
	}{
		"tcp with keep":        {File{Kind: KindConnect, Host: "h", Port: 1, Prot: ProtTCP, Peer: Peer{Keep: true}}, "authenticates nobody"},
		"modules without keep": {File{Kind: KindListen, Addr: good.Addr, Port: 1, Prot: ProtTLS, Peer: Peer{Modules: [][32]byte{{1}}}}, "applies to keep peers"},
		"listen system":        {File{Kind: KindListen, Port: 1, Prot: ProtTLS, Peer: Peer{CA: CASystem}}, "would accept any client"},
		"peer on dir":          {File{Kind: KindDir, HostPath: "d", Guest: "/d", Peer: Peer{Keep: true}}, "has Peer set"},
	} {
		if tt.f.Kind == KindListen {
			tt.f.Addr = netip.MustParseAddr("::")
		}
		err := base(tt.f).Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want %q", name, err, tt.want)
		}
	}
	c := Default()
	c.TLS.Names = []string{"*.x"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "wildcard") {
		t.Errorf("Validate with a wildcard name = %v", err)
	}
}
