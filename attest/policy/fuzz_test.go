package policy

import (
	"bytes"
	"errors"
	"os"

	"donjon.dev/attest"
	"strings"
	"testing"
	"unicode"
)

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		f.Fatal(err)
	}
	blocks, err := tomlBlocks(string(data))
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range blocks {
		f.Add([]byte(b))
	}
	for _, s := range []string{
		"",
		"workload.any_module = true\n",
		"platforms = [\"nil\"]\n[workload]\nany_module = true\nconfigs = [\"" + hexA + "\"]\n",
		"[workload]\nmodules = [\"" + hexA + "\", \"" + hexB + "\"]\n[snp]\nmin_tcb = { bootloader = 3, fmc = 1 }\nmeasurements = [\"" + hexM + "\"]\n",
		"[workload]\nmodules = [\"" + hexA + "\"]\n[tdx]\nmin_tee_tcb_svn = \"03000500000000000000000000000000\"\nmrtd = [\"" + hexM + "\"]\n[certificate]\nlifetime = \"2h\"\n",
		"[snp]\nmin_tcb = { tea = 1 }\n",
		"[[workload]]\nany_module = true\n",
		"platforms = [\"sgx\", \"SNP\", \"snp\", \"snp\"]\n",
		"a.b.c.d.e.f.g = 1\n",
		"x = { y = { z = { w = { v = 1 } } } }\n",
		"[workload]\nmodules = [\n# comment\n\"" + hexA + "\", # trailing\n]\n",
		"\"é\" = 1\nworkload.any_module = true\n",
		"platforms = [\"snp\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "f.toml")
		_, err2 := Parse(data, "f.toml")
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("Parse is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want *ParseError", err, err)
			}
			msg := err.Error()
			if strings.ContainsFunc(msg, unicode.IsControl) || !strings.HasPrefix(msg, "f.toml") {
				t.Fatalf("bad message %q", msg)
			}
			if lines := bytes.Count(data, []byte("\n")) + 1; pe.Line < 0 || pe.Line > lines || pe.Column < 0 {
				t.Fatalf("position %d:%d outside a %d-line file: %q", pe.Line, pe.Column, lines, msg)
			}
			return
		}
		if len(p.Platforms) == 0 {
			t.Fatal("accepted a policy with no platform")
		}
		seen := map[string]bool{}
		for _, pl := range p.Platforms {
			if seen[pl.String()] {
				t.Fatalf("duplicate platform %s accepted", pl)
			}
			seen[pl.String()] = true
		}
		if p.Workload.AnyModule == (len(p.Workload.Modules) > 0) {
			t.Fatalf("accepted any_module %v with %d modules", p.Workload.AnyModule, len(p.Workload.Modules))
		}
		for _, d := range append(p.Workload.Modules, p.Workload.Configs...) {
			if d == [32]byte{} {
				t.Fatal("accepted an all-zero digest")
			}
		}
		if p.CertificateLifetime < MinLifetime || p.CertificateLifetime > MaxLifetime {
			t.Fatalf("accepted lifetime %v", p.CertificateLifetime)
		}
		for _, c := range []func() *attest.Claims{snpClaims, tdxClaims, nilClaims} {
			_ = p.Check(c())
		}
		_ = p.Summary()
	})
}
