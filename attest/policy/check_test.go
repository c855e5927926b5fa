package policy

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
)

func digest(b byte) [32]byte {
	var d [32]byte
	d[0], d[31] = b, b
	return d
}

func measurement(b byte) [48]byte {
	var m [48]byte
	m[0], m[47] = b, b
	return m
}

// Raw REPORTED_TCB bytes as an SNP report holds them (little-endian). The
// layouts are written out here rather than derived with snp.DecodeTCB, so a
// mistake in the decoding shows.
var (
	// Milan/Genoa: bootloader, tee, 4 reserved, snp, microcode.
	milanTCB = []byte{3, 0, 0, 0, 0, 0, 8, 115}
	// Turin: fmc, bootloader, tee, snp, 3 reserved, microcode.
	turinTCB = []byte{1, 3, 0, 8, 0, 0, 0, 115}
)

func snpClaims() *attest.Claims {
	m := measurement(0xaa)
	return &attest.Claims{
		Platform:     attest.PlatformSNP,
		Product:      "Milan",
		TCB:          bytes.Clone(milanTCB),
		Measurement:  m[:],
		ModuleDigest: digest(1),
		ConfigDigest: digest(2),
	}
}

func tdxClaims() *attest.Claims {
	m := measurement(0xbb)
	return &attest.Claims{
		Platform:     attest.PlatformTDX,
		TCB:          []byte{3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		Measurement:  m[:],
		PlatformID:   []byte{0, 0x80, 0x6f, 5, 0, 0},
		ModuleDigest: digest(1),
		ConfigDigest: digest(2),
	}
}

func nilClaims() *attest.Claims {
	return &attest.Claims{Platform: attest.PlatformNil, Insecure: true, ModuleDigest: digest(1), ConfigDigest: digest(2)}
}

// strictPolicy sets every rule, each satisfied by snpClaims and tdxClaims.
func strictPolicy() *Policy {
	return &Policy{
		Name:      "test",
		Platforms: []attest.Platform{attest.PlatformSNP, attest.PlatformTDX},
		Workload: Workload{
			Modules: [][32]byte{digest(9), digest(1)},
			Configs: [][32]byte{digest(2)},
		},
		SNP: SNP{
			MinTCB:       SNPTCB{Bootloader: 3, TEE: 0, SNP: 8, Microcode: 115},
			Measurements: [][48]byte{measurement(0xaa)},
		},
		TDX: TDX{
			MinTEETCBSVN: [16]byte{3, 0, 5},
			MRTDs:        [][48]byte{measurement(0xcc), measurement(0xbb)},
		},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		policy   func(*Policy)
		claims   func() *attest.Claims
		rule     string   // "" for acceptance
		contains []string // in the reason
	}{
		{name: "snp passes every rule", claims: snpClaims},
		{name: "tdx passes every rule", claims: tdxClaims},

		{name: "platform: tdx not listed", policy: func(p *Policy) { p.Platforms = []attest.Platform{attest.PlatformSNP} },
			claims: tdxClaims, rule: RulePlatform, contains: []string{"platform tdx", "allows snp", `add "tdx" to platforms`}},
		{name: "platform: snp not listed", policy: func(p *Policy) { p.Platforms = []attest.Platform{attest.PlatformTDX, attest.PlatformNil} },
			claims: snpClaims, rule: RulePlatform, contains: []string{"platform snp", "allows tdx, nil"}},
		{name: "platform: unknown value", claims: func() *attest.Claims { c := snpClaims(); c.Platform = 7; return c },
			rule: RulePlatform, contains: []string{"unknown(7)", "upgrade donjon"}},
		{name: "platform: none allowed", policy: func(p *Policy) { p.Platforms = nil },
			claims: snpClaims, rule: RulePlatform, contains: []string{"allows no platform"}},

		{name: "insecure: nil not listed", claims: nilClaims, rule: RuleInsecure, contains: []string{"nil backend", `add "nil" to platforms`}},
		{name: "insecure: flag alone is enough", claims: func() *attest.Claims { c := snpClaims(); c.Insecure = true; return c },
			rule: RuleInsecure},
		{name: "insecure: nil listed", policy: func(p *Policy) {
			p.Platforms = append(p.Platforms, attest.PlatformNil)
		}, claims: nilClaims},

		{name: "debug: rejected", claims: func() *attest.Claims { c := tdxClaims(); c.Debug = true; return c },
			rule: RuleDebug, contains: []string{"tdx TEE runs in debug mode", "allow_debug = true"}},
		{name: "debug: allowed", policy: func(p *Policy) { p.AllowDebug = true },
			claims: func() *attest.Claims { c := snpClaims(); c.Debug = true; return c }},

		{name: "modules: not listed", claims: func() *attest.Claims { c := snpClaims(); c.ModuleDigest = digest(7); return c },
			rule: RuleModules, contains: []string{"module digest 07000000", "not among the 2 allowed", "[workload] modules"}},
		{name: "modules: one allowed", policy: func(p *Policy) { p.Workload.Modules = [][32]byte{digest(9)} },
			claims: snpClaims, rule: RuleModules, contains: []string{"not the 1 allowed"}},
		{name: "modules: empty list built in code", policy: func(p *Policy) { p.Workload.Modules = nil },
			claims: snpClaims, rule: RuleModules, contains: []string{"not allowed (the list is empty)"}},
		{name: "modules: no workload bound", claims: func() *attest.Claims {
			c := snpClaims()
			c.ModuleDigest, c.ConfigDigest = [32]byte{}, [32]byte{}
			return c
		}, rule: RuleModules, contains: []string{"binds no workload", "any_module = true"}},
		{name: "modules: any module accepts an unknown one", policy: func(p *Policy) { p.Workload = Workload{AnyModule: true} },
			claims: func() *attest.Claims { c := snpClaims(); c.ModuleDigest = digest(7); return c }},
		{name: "modules: any module accepts no workload", policy: func(p *Policy) { p.Workload = Workload{AnyModule: true} },
			claims: func() *attest.Claims {
				c := snpClaims()
				c.ModuleDigest, c.ConfigDigest = [32]byte{}, [32]byte{}
				return c
			}},

		{name: "configs: not listed", claims: func() *attest.Claims { c := snpClaims(); c.ConfigDigest = digest(5); return c },
			rule: RuleConfigs, contains: []string{"config digest 05000000", "not the 1 allowed", "[workload] configs"}},
		{name: "configs: no workload bound", policy: func(p *Policy) { p.Workload.AnyModule, p.Workload.Modules = true, nil },
			claims: func() *attest.Claims {
				c := snpClaims()
				c.ModuleDigest, c.ConfigDigest = [32]byte{}, [32]byte{}
				return c
			}, rule: RuleConfigs, contains: []string{"binds no workload"}},
		{name: "configs: any", policy: func(p *Policy) { p.Workload.Configs = nil },
			claims: func() *attest.Claims { c := snpClaims(); c.ConfigDigest = digest(5); return c }},

		{name: "snp.min_tcb: milan below", claims: func() *attest.Claims {
			c := snpClaims()
			c.TCB = []byte{2, 0, 0, 0, 0, 0, 5, 115}
			return c
		}, rule: RuleSNPMinTCB, contains: []string{"Milan", "bootloader 2 < 3", "snp 5 < 8", "min_tcb"}},
		{name: "snp.min_tcb: microcode below", claims: func() *attest.Claims {
			c := snpClaims()
			c.TCB = []byte{3, 0, 0, 0, 0, 0, 8, 114}
			return c
		}, rule: RuleSNPMinTCB, contains: []string{"microcode 114 < 115"}},
		{name: "snp.min_tcb: above", claims: func() *attest.Claims {
			c := snpClaims()
			c.TCB = []byte{4, 1, 0, 0, 0, 0, 9, 200}
			return c
		}},
		{name: "snp.min_tcb: turin layout", policy: func(p *Policy) { p.SNP.MinTCB.FMC = 1 },
			claims: func() *attest.Claims { c := snpClaims(); c.Product = "Turin"; c.TCB = bytes.Clone(turinTCB); return c }},
		{name: "snp.min_tcb: turin fmc below", policy: func(p *Policy) { p.SNP.MinTCB.FMC = 2 },
			claims: func() *attest.Claims { c := snpClaims(); c.Product = "Turin"; c.TCB = bytes.Clone(turinTCB); return c },
			rule:   RuleSNPMinTCB, contains: []string{"Turin", "fmc 1 < 2"}},
		{name: "snp.min_tcb: milan bytes read as turin fail", claims: func() *attest.Claims { c := snpClaims(); c.Product = "Turin"; return c },
			rule: RuleSNPMinTCB, contains: []string{"Turin"}},
		{name: "snp.min_tcb: fmc ignored on genoa", policy: func(p *Policy) { p.SNP.MinTCB.FMC = 9 },
			claims: func() *attest.Claims { c := snpClaims(); c.Product = "Genoa"; return c }},
		{name: "snp.min_tcb: unknown product", claims: func() *attest.Claims { c := snpClaims(); c.Product = ""; return c },
			rule: RuleSNPMinTCB, contains: []string{"product is unknown", "layout"}},
		{name: "snp.min_tcb: unknown product without minimum", policy: func(p *Policy) { p.SNP.MinTCB = SNPTCB{} },
			claims: func() *attest.Claims { c := snpClaims(); c.Product = ""; c.TCB = nil; return c }},
		{name: "snp.min_tcb: wrong TCB length", claims: func() *attest.Claims { c := snpClaims(); c.TCB = c.TCB[:4]; return c },
			rule: RuleSNPMinTCB, contains: []string{"4-byte TCB"}},

		{name: "snp.measurements: not listed", claims: func() *attest.Claims { m := measurement(0xab); c := snpClaims(); c.Measurement = m[:]; return c },
			rule: RuleSNPMeasurements, contains: []string{"launch measurement ab0000", "not the 1 allowed", "[snp] measurements"}},
		{name: "snp.measurements: missing", claims: func() *attest.Claims { c := snpClaims(); c.Measurement = nil; return c },
			rule: RuleSNPMeasurements, contains: []string{"0-byte launch measurement"}},
		{name: "snp.measurements: any", policy: func(p *Policy) { p.SNP.Measurements = nil },
			claims: func() *attest.Claims { m := measurement(0xab); c := snpClaims(); c.Measurement = m[:]; return c }},

		{name: "tdx.min_tee_tcb_svn: below", claims: func() *attest.Claims { c := tdxClaims(); c.TCB[2] = 4; return c },
			rule: RuleTDXMinTCBSVN, contains: []string{"byte 2: 4 < 5", "03000400", "min_tee_tcb_svn"}},
		{name: "tdx.min_tee_tcb_svn: wrong length", claims: func() *attest.Claims { c := tdxClaims(); c.TCB = c.TCB[:8]; return c },
			rule: RuleTDXMinTCBSVN, contains: []string{"8-byte TCB"}},
		{name: "tdx.min_tee_tcb_svn: above", claims: func() *attest.Claims { c := tdxClaims(); c.TCB[0], c.TCB[15] = 9, 1; return c }},

		{name: "tdx.mrtd: not listed", claims: func() *attest.Claims { m := measurement(0x01); c := tdxClaims(); c.Measurement = m[:]; return c },
			rule: RuleTDXMRTD, contains: []string{"MRTD 010000", "not among the 2 allowed", "[tdx] mrtd"}},
		{name: "tdx.mrtd: any", policy: func(p *Policy) { p.TDX.MRTDs = nil },
			claims: func() *attest.Claims { m := measurement(0x01); c := tdxClaims(); c.Measurement = m[:]; return c }},

		// Rules of one platform never apply to another.
		{name: "snp rules ignore tdx claims", policy: func(p *Policy) {
			p.SNP.MinTCB = SNPTCB{Bootloader: 255}
			p.SNP.Measurements = [][48]byte{measurement(0x77)}
		}, claims: tdxClaims},
		{name: "tdx rules ignore snp claims", policy: func(p *Policy) {
			p.TDX.MinTEETCBSVN = [16]byte{255}
			p.TDX.MRTDs = [][48]byte{measurement(0x77)}
		}, claims: snpClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := strictPolicy()
			if tt.policy != nil {
				tt.policy(p)
			}
			err := p.Check(tt.claims())
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("Check = %v, want acceptance", err)
				}
				return
			}
			var v *Violation
			if !errors.As(err, &v) {
				t.Fatalf("Check = %v (%T), want a *Violation", err, err)
			}
			if !errors.Is(err, ErrViolation) {
				t.Errorf("errors.Is(%v, ErrViolation) = false", err)
			}
			if v.Rule != tt.rule {
				t.Errorf("rule %q, want %q (%v)", v.Rule, tt.rule, err)
			}
			if want := "policy: " + tt.rule + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
			if strings.ContainsAny(v.Reason, "\n\r") {
				t.Errorf("reason is not one line: %q", v.Reason)
			}
			for _, s := range tt.contains {
				if !strings.Contains(v.Reason, s) {
					t.Errorf("reason %q lacks %q", v.Reason, s)
				}
			}
		})
	}
}

func TestCheckReportsFirstInOrder(t *testing.T) {
	p := strictPolicy()
	p.Platforms = []attest.Platform{attest.PlatformTDX}
	c := snpClaims()
	c.Debug = true
	c.ModuleDigest = digest(7)
	c.ConfigDigest = digest(8)
	c.TCB = make([]byte, 8)
	m := measurement(0x01)
	c.Measurement = m[:]

	want := []string{RulePlatform, RuleDebug, RuleModules, RuleConfigs, RuleSNPMinTCB, RuleSNPMeasurements}
	var got []string
	for _, v := range p.Violations(c) {
		got = append(got, v.Rule)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Violations rules = %v, want %v", got, want)
	}
	// Same claims, same answer: the order does not depend on anything else.
	for range 5 {
		var v *Violation
		if err := p.Check(c); !errors.As(err, &v) || v.Rule != RulePlatform {
			t.Fatalf("Check = %v, want the platform rule first", err)
		}
	}
	// With the platform fixed, the next rule in the order comes first.
	p.Platforms = append(p.Platforms, attest.PlatformSNP)
	var v *Violation
	if err := p.Check(c); !errors.As(err, &v) || v.Rule != RuleDebug {
		t.Errorf("Check = %v, want the debug rule", err)
	}
}

func TestRulesOrder(t *testing.T) {
	want := []string{"platform", "insecure", "debug", "workload.modules", "workload.configs", "workload.plaintext",
		"snp.min_tcb", "snp.measurements", "tdx.min_tee_tcb_svn", "tdx.mrtd", "sgx.mrenclave"}
	if got := Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
}

func TestCheckFailsClosed(t *testing.T) {
	var nilPolicy *Policy
	if err := nilPolicy.Check(snpClaims()); !errors.Is(err, ErrViolation) {
		t.Errorf("nil policy: Check = %v, want a violation", err)
	}
	if err := Default().Check(nil); !errors.Is(err, ErrViolation) {
		t.Errorf("nil claims: Check = %v, want a violation", err)
	}
	if err := (&Policy{}).Check(snpClaims()); !errors.Is(err, ErrViolation) {
		t.Errorf("zero policy: Check = %v, want a violation", err)
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	enarx := snpClaims()
	enarx.ModuleDigest, enarx.ConfigDigest = [32]byte{}, [32]byte{}
	enarx.Product = ""
	for name, c := range map[string]*attest.Claims{"snp": snpClaims(), "tdx": tdxClaims(), "no workload, no product": enarx} {
		if err := p.Check(c); err != nil {
			t.Errorf("%s: Default().Check = %v, want acceptance", name, err)
		}
	}
	debug := tdxClaims()
	debug.Debug = true
	for name, tc := range map[string]struct {
		c    *attest.Claims
		rule string
	}{"nil": {nilClaims(), RuleInsecure}, "debug": {debug, RuleDebug}} {
		var v *Violation
		if err := p.Check(tc.c); !errors.As(err, &v) || v.Rule != tc.rule {
			t.Errorf("%s: Default().Check = %v, want rule %s", name, err, tc.rule)
		}
	}
	if p.Lifetime() != 4*time.Hour {
		t.Errorf("Default().Lifetime() = %v, want 4h", p.Lifetime())
	}
	// Each call is a fresh value: changing one does not change the next.
	p.AllowDebug = true
	p.Platforms[0] = attest.PlatformNil
	if q := Default(); q.AllowDebug || q.Platforms[0] != attest.PlatformSNP {
		t.Error("Default() returned a shared value")
	}
}

func TestLifetime(t *testing.T) {
	for _, tc := range []struct {
		set, want time.Duration
	}{
		{0, DefaultLifetime},
		{time.Hour, time.Hour},
		{time.Second, MinLifetime},
		{-time.Hour, MinLifetime},
		{30 * 24 * time.Hour, MaxLifetime},
	} {
		p := &Policy{CertificateLifetime: tc.set}
		if got := p.Lifetime(); got != tc.want {
			t.Errorf("Lifetime() with %v = %v, want %v", tc.set, got, tc.want)
		}
	}
	var nilPolicy *Policy
	if got := nilPolicy.Lifetime(); got != DefaultLifetime {
		t.Errorf("nil policy Lifetime() = %v", got)
	}
}

func TestSummary(t *testing.T) {
	dev := Default()
	dev.Platforms = append(dev.Platforms, attest.PlatformNil)
	dev.AllowDebug = true
	got := strings.Join(dev.Summary(), "\n")
	for _, want := range []string{"snp, tdx, nil", "debug mode ACCEPTED", "WARNING", "any module, any config", "minimum TCB none", "any launch measurement", "any MRTD", "4h0m0s"} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary lacks %q:\n%s", want, got)
		}
	}
	got = strings.Join(strictPolicy().Summary(), "\n")
	for _, want := range []string{"debug mode rejected", "2 allowed modules, 1 allowed config", "bootloader=3 tee=0 snp=8 microcode=115", "1 allowed launch measurement", "030005", "2 allowed MRTDs"} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "WARNING") {
		t.Errorf("Summary warns about nil without nil listed:\n%s", got)
	}
}

func TestSGXRules(t *testing.T) {
	p, err := Parse([]byte("platforms = [\"sgx\"]\n[workload]\nany_module = true\n[sgx]\nmrenclave = [\""+strings.Repeat("ab", 32)+"\"]\ntcb_status = [\"UpToDate\", \"OutOfDate\"]\n"), "sgx.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.SGX.TCBStatus, []string{"UpToDate", "OutOfDate"}) {
		t.Errorf("tcb_status parsed as %v", p.SGX.TCBStatus)
	}
	c := &attest.Claims{Platform: attest.PlatformSGX, Measurement: bytes.Repeat([]byte{0xab}, 32)}
	if err := p.Check(c); err != nil {
		t.Fatalf("allowed enclave: %v", err)
	}
	c.Measurement[0] = 0
	var v *Violation
	if err := p.Check(c); !errors.As(err, &v) || v.Rule != RuleSGXMRENCLAVE {
		t.Fatalf("other enclave: %v", err)
	}
	if err := Default().Check(&attest.Claims{Platform: attest.PlatformSGX}); !errors.As(err, &v) || v.Rule != RulePlatform {
		t.Fatalf("the default policy and SGX claims: %v", err)
	}
}

func TestCheckNames(t *testing.T) {
	p := &Policy{CertificateNames: []string{"localhost", "127.0.0.1", "*.apps.example.com", "2001:db8::1"}}
	ok := []struct {
		dns []string
		ips []string
	}{
		{nil, nil},
		{[]string{"localhost", "LocalHost"}, []string{"127.0.0.1", "::ffff:127.0.0.1", "2001:db8:0::1"}},
		{[]string{"a.apps.example.com", "B-2.Apps.Example.com"}, nil},
	}
	for _, tt := range ok {
		if err := p.CheckNames(tt.dns, parseIPs(t, tt.ips)); err != nil {
			t.Errorf("CheckNames(%v, %v): %v", tt.dns, tt.ips, err)
		}
	}
	bad := []struct {
		dns  []string
		ips  []string
		name string
	}{
		{[]string{"apps.example.com"}, nil, "apps.example.com"},
		{[]string{"a.b.apps.example.com"}, nil, "a.b.apps.example.com"},
		{[]string{"localhost", "evil.example"}, nil, "evil.example"},
		{nil, []string{"127.0.0.2"}, "127.0.0.2"},
		{[]string{"localhost.localdomain"}, nil, "localhost.localdomain"},
	}
	for _, tt := range bad {
		err := p.CheckNames(tt.dns, parseIPs(t, tt.ips))
		var v *Violation
		if !errors.As(err, &v) || v.Rule != RuleCertificateNames || !strings.Contains(v.Reason, `"`+tt.name+`"`) {
			t.Errorf("CheckNames(%v, %v) = %v, want a certificate.names violation naming %q", tt.dns, tt.ips, err, tt.name)
		}
	}
	if err := Default().CheckNames([]string{"localhost"}, nil); err == nil || !strings.Contains(err.Error(), "grants no names") {
		t.Errorf("the default policy granted a name: %v", err)
	}
}

func parseIPs(t *testing.T, s []string) []net.IP {
	var ips []net.IP
	for _, a := range s {
		ip := net.ParseIP(a)
		if ip == nil {
			t.Fatalf("bad test IP %q", a)
		}
		ips = append(ips, ip)
	}
	return ips
}

func TestParseCertificateNames(t *testing.T) {
	p, err := Parse([]byte("[workload]\nany_module = true\n[certificate]\nnames = [\"localhost\", \"*.example.com\", \"::1\"]\n"), "p.toml")
	if err != nil || len(p.CertificateNames) != 3 {
		t.Fatalf("Parse: %v %+v", err, p)
	}
	for pat, want := range map[string]string{
		`"*"`:               "wildcard elsewhere",
		`"a.*.example.com"`: "wildcard elsewhere",
		`"*.com"`:           "whole top-level domain",
		`"-a.example"`:      "not a DNS name",
		`"a_b.example"`:     "not a DNS name",
		`"example.com."`:    "not a DNS name",
		`"x", "X"`:          "listed twice",
	} {
		_, err := Parse([]byte("[workload]\nany_module = true\n[certificate]\nnames = ["+pat+"]\n"), "p.toml")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "p.toml:4:") {
			t.Errorf("names = [%s]: %v, want %q at line 4", pat, err, want)
		}
	}
}

func TestCheckPlaintext(t *testing.T) {
	c := &attest.Claims{Platform: attest.PlatformSNP, Plaintext: true, ModuleDigest: [32]byte{1}}
	p := Default()
	var v *Violation
	if err := p.Check(c); !errors.As(err, &v) || v.Rule != RulePlaintext || !strings.Contains(v.Reason, "allow_plaintext = true") {
		t.Errorf("default policy on a plaintext workload: %v, want the workload.plaintext rule", err)
	}
	p.Workload.AllowPlaintext = true
	if err := p.Check(c); err != nil {
		t.Errorf("allow_plaintext = true: %v", err)
	}
	c.Plaintext = false
	if err := Default().Check(c); err != nil {
		t.Errorf("a workload without plaintext channels: %v", err)
	}
	parsed, err := Parse([]byte("[workload]\nany_module = true\nallow_plaintext = true\n"), "p.toml")
	if err != nil || !parsed.Workload.AllowPlaintext {
		t.Errorf("Parse allow_plaintext: %+v, %v", parsed, err)
	}
}
