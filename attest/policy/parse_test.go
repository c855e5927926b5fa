package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest"
)

const (
	hexA = "58a9dfbd5f30947506cb84c6f274080e2669b1afe7cb00d0f2c73d952aae1c85"
	hexB = "60adeb44bbc9eb4fac944bfe0c87d6938c75757264c69ae748765ed3ba257b2a"
	hexM = "17cf965b7de2c16e54c2a4c01b7de7049d504b0e26fcb0d796c22f47711bb8f099a5328a68ba86d1cf20f38dd136f209"
)

func TestParseFull(t *testing.T) {
	src := `platforms = ["tdx", "snp", "nil"]
allow_debug = true
[workload]
modules = ["` + hexA + `", "` + strings.ToUpper(hexB) + `"]
configs = ["` + hexB + `"]
[snp]
min_tcb = { bootloader = 3, tee = 1, snp = 8, microcode = 115, fmc = 2 }
measurements = ["` + hexM + `"]
[tdx]
min_tee_tcb_svn = "0300050000000000000000000000000f"
mrtd = ["` + hexM + `"]
[certificate]
lifetime = "90m"
`
	p, err := Parse([]byte(src), "full.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []attest.Platform{attest.PlatformTDX, attest.PlatformSNP, attest.PlatformNil}; !slices.Equal(p.Platforms, want) {
		t.Errorf("Platforms = %v, want %v", p.Platforms, want)
	}
	if !p.AllowDebug || p.Workload.AnyModule || p.Name != "full.toml" {
		t.Errorf("AllowDebug %v AnyModule %v Name %q", p.AllowDebug, p.Workload.AnyModule, p.Name)
	}
	if len(p.Workload.Modules) != 2 || fmt.Sprintf("%x", p.Workload.Modules[0]) != hexA || fmt.Sprintf("%x", p.Workload.Modules[1]) != hexB {
		t.Errorf("Modules = %x", p.Workload.Modules)
	}
	if len(p.Workload.Configs) != 1 || fmt.Sprintf("%x", p.Workload.Configs[0]) != hexB {
		t.Errorf("Configs = %x", p.Workload.Configs)
	}
	if want := (SNPTCB{Bootloader: 3, TEE: 1, SNP: 8, Microcode: 115, FMC: 2}); p.SNP.MinTCB != want {
		t.Errorf("MinTCB = %+v, want %+v", p.SNP.MinTCB, want)
	}
	if len(p.SNP.Measurements) != 1 || fmt.Sprintf("%x", p.SNP.Measurements[0]) != hexM {
		t.Errorf("Measurements = %x", p.SNP.Measurements)
	}
	if p.TDX.MinTEETCBSVN != [16]byte{3, 0, 5, 15: 15} {
		t.Errorf("MinTEETCBSVN = %x", p.TDX.MinTEETCBSVN)
	}
	if len(p.TDX.MRTDs) != 1 || fmt.Sprintf("%x", p.TDX.MRTDs[0]) != hexM {
		t.Errorf("MRTDs = %x", p.TDX.MRTDs)
	}
	if p.Lifetime() != 90*time.Minute {
		t.Errorf("Lifetime = %v", p.Lifetime())
	}
}

func TestParseMinimal(t *testing.T) {
	// The table form of min_tcb and dotted keys work as well as inline tables.
	p, err := Parse([]byte("workload.any_module = true\n[snp.min_tcb]\nsnp = 8\n"), "min.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Platforms, Default().Platforms) || p.AllowDebug || !p.Workload.AnyModule {
		t.Errorf("defaults not applied: %+v", p)
	}
	if p.SNP.MinTCB != (SNPTCB{SNP: 8}) || p.Lifetime() != DefaultLifetime {
		t.Errorf("MinTCB %+v, lifetime %v", p.SNP.MinTCB, p.Lifetime())
	}
}

func TestParseErrors(t *testing.T) {
	anyModule := "[workload]\nany_module = true\n"
	tests := []struct {
		name      string
		src       string
		line, col int // 0: no position
		contains  []string
	}{
		{"unknown top-level key", "platforms = [\"snp\"]\n  bogus = 1\n" + anyModule, 2, 3,
			[]string{`unknown key "bogus" at the top level`, "remove it", "platforms, allow_debug"}},
		{"unknown key with suggestion", anyModule + "[snp]\nmeasurement = []\n", 4, 1,
			[]string{`unknown key "measurement" in [snp]: did you mean "measurements"?`}},
		{"unknown key in inline table", anyModule + "[snp]\nmin_tcb = { bootloader = 3, tea = 1 }\n", 4, 29,
			[]string{`unknown key "tea" in [snp.min_tcb]: did you mean "tee"?`}},
		{"unknown key in the wrong table", anyModule + "mrtd = []\n", 3, 1,
			[]string{`unknown key "mrtd" in [workload]: it belongs in [tdx]`}},
		{"unknown table", anyModule + "[certifcate]\n", 3, 2,
			[]string{`unknown key "certifcate" at the top level: did you mean "certificate"?`}},
		{"unknown dotted key", "workload.any_module = true\nworkload.modulez = 1\n", 2, 10,
			[]string{`unknown key "modulez" in [workload]: did you mean "modules"?`}},
		{"unknown key column counts characters", anyModule + "[snp]\n\"é\" = 1\n", 4, 1, []string{`unknown key "é"`}},
		{"first unknown key reported", anyModule + "zz = 1\nyy = 2\n", 3, 1, []string{`"zz"`}},

		{"syntax error", "platforms = [\"snp\"\n", 1, 0, []string{"invalid TOML", "toml.io"}},
		{"duplicate key", anyModule + "any_module = false\n", 3, 1, []string{"invalid TOML"}},
		{"wrong type", "platforms = \"snp\"\n" + anyModule, 1, 13,
			[]string{"platforms must be an array of strings, not a string", `platforms = ["snp", "tdx"]`}},
		{"wrong element type", "[workload]\nmodules = [1]\n", 2, 12,
			[]string{"workload.modules[0] must be a string of hex digits, not an integer"}},
		{"wrong type in inline table", anyModule + "[snp]\nmin_tcb = { snp = \"8\" }\n", 4, 19,
			[]string{"snp.min_tcb.snp must be an integer, not a string"}},
		{"array of tables", "[[workload]]\nany_module = true\n", 1, 3,
			[]string{"workload must be a table, not an array of tables"}},

		{"nothing about the workload", "platforms = [\"snp\"]\n", 0, 0,
			[]string{"workload: list allowed module digests in modules, or set any_module = true to accept any workload"}},
		{"empty workload table", "[workload]\n", 1, 2,
			[]string{"workload: list allowed module digests in modules"}},
		{"empty modules", "[workload]\nmodules = []\nany_module = false\n", 1, 2,
			[]string{"workload: list allowed module digests in modules"}},
		{"both modules and any_module", "[workload]\nmodules = [\"" + hexA + "\"]\nany_module = true\n", 3, 14,
			[]string{"any_module = true accepts any module, so modules must be empty"}},

		{"bad hex", "[workload]\nmodules = [\"" + hexA + "\", \"" + strings.Repeat("g", 64) + "\"]\n", 2, 80,
			[]string{"workload.modules[1]", "is not hexadecimal", "64 hex digits"}},
		{"short digest", "[workload]\nmodules = [\"" + hexA[:62] + "\"]\n", 2, 12,
			[]string{"workload.modules[0] is 62 characters, not 64 hex digits", "sha256sum"}},
		{"0x prefix", "[workload]\nmodules = [\"0x" + hexA[:62] + "\"]\n", 2, 12,
			[]string{"starts with 0x"}},
		{"duplicate digest", "[workload]\nmodules = [\n\"" + hexA + "\",\n\"" + strings.ToUpper(hexA) + "\"]\n", 4, 1,
			[]string{"workload.modules[1] repeats workload.modules[0]", "remove the duplicate"}},
		{"zero digest", "[workload]\nmodules = [\"" + strings.Repeat("0", 64) + "\"]\n", 2, 12,
			[]string{"all zeros", "bound no workload"}},
		{"zero config", anyModule + "configs = [\"" + strings.Repeat("0", 64) + "\"]\n", 3, 12,
			[]string{"workload.configs[0] is all zeros"}},
		{"config wrong length", anyModule + "configs = [\"" + hexM + "\"]\n", 3, 12,
			[]string{"workload.configs[0] is 96 characters, not 64"}},
		{"measurement wrong length", anyModule + "[snp]\nmeasurements = [\"" + hexA + "\"]\n", 4, 17,
			[]string{"snp.measurements[0] is 64 characters, not 96 hex digits"}},
		{"duplicate measurement", anyModule + "[snp]\nmeasurements = [\"" + hexM + "\", \"" + hexM + "\"]\n", 4, 117,
			[]string{"snp.measurements[1] repeats snp.measurements[0]"}},
		{"mrtd wrong length", anyModule + "[tdx]\nmrtd = [\"abcd\"]\n", 4, 9,
			[]string{"tdx.mrtd[0] is 4 characters, not 96 hex digits", "MRTD"}},
		{"tee tcb svn wrong length", anyModule + "[tdx]\nmin_tee_tcb_svn = \"0300\"\n", 4, 19,
			[]string{"tdx.min_tee_tcb_svn is 4 characters, not 32 hex digits"}},
		{"tee tcb svn bad hex", anyModule + "[tdx]\nmin_tee_tcb_svn = \"" + strings.Repeat("z", 32) + "\"\n", 4, 19,
			[]string{"is not hexadecimal"}},
		{"svn out of range", anyModule + "[snp]\nmin_tcb = { microcode = 256 }\n", 4, 25,
			[]string{"snp.min_tcb.microcode is 256", "0 to 255"}},
		{"svn negative", anyModule + "[snp.min_tcb]\ntee = -1\n", 4, 7,
			[]string{"snp.min_tcb.tee is -1"}},

		{"sgx status unknown", anyModule + "[sgx]\ntcb_status = [\"UpToDate\", \"Revoked\"]\n", 4, 27,
			[]string{`sgx.tcb_status "Revoked" is not an Intel TCB status`}},
		{"sgx status duplicate", anyModule + "[sgx]\ntcb_status = [\"OutOfDate\", \"OutOfDate\"]\n", 4, 28,
			[]string{`repeats "OutOfDate"`}},
		{"sgx mrenclave short", anyModule + "[sgx]\nmrenclave = [\"abcd\"]\n", 4, 14,
			[]string{"sgx.mrenclave[0] is 4 characters, not 64 hex digits"}},
		{"platform typo", "platforms = [\"SNP\"]\n" + anyModule, 1, 14,
			[]string{`platform "SNP" is not a platform: did you mean "snp"?`}},
		{"platform unknown", "platforms = [\"azure\"]\n" + anyModule, 1, 14,
			[]string{`platform "azure" is not a platform: use "snp", "tdx" or "nil"`}},
		{"platform duplicate", "platforms = [\"tdx\", \"snp\", \"tdx\"]\n" + anyModule, 1, 28,
			[]string{"platforms[2] repeats platforms[0]"}},
		{"platforms empty", "platforms = []\n" + anyModule, 1, 1,
			[]string{"platforms is empty"}},

		{"lifetime not a duration", anyModule + "[certificate]\nlifetime = \"1d\"\n", 4, 12,
			[]string{`certificate.lifetime "1d" is not a duration`, `"168h"`}},
		{"lifetime too short", anyModule + "[certificate]\nlifetime = \"4m59s\"\n", 4, 12,
			[]string{`certificate.lifetime "4m59s" is outside "5m" to "168h"`}},
		{"lifetime too long", anyModule + "[certificate]\nlifetime = \"168h1s\"\n", 4, 12,
			[]string{`"168h1s" is outside`}},
		{"lifetime negative", anyModule + "[certificate]\nlifetime = \"-1h\"\n", 4, 12,
			[]string{"is outside"}},
		{"lifetime empty", anyModule + "[certificate]\nlifetime = \"\"\n", 4, 12,
			[]string{"is not a duration"}},

		{"first problem by position", "platforms = [\"sxg\"]\n[workload]\nmodules = [\"00\"]\n", 1, 14,
			[]string{`"sxg"`}},
		{"too large", strings.Repeat("#", MaxSize+1), 0, 0, []string{"more than the 1048576-byte limit"}},
		{"long value is shortened", "platforms = [\"" + strings.Repeat("x", 1000) + "\"]\n" + anyModule, 1, 14,
			[]string{"...\""}},
		{"newline in value stays one line", "platforms = [\"a\\nb\"]\n" + anyModule, 1, 14,
			[]string{`"a\nb"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.src), "p.toml")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", p)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want *ParseError", err, err)
			}
			if pe.Line != tt.line || (tt.col != 0 && pe.Column != tt.col) {
				t.Errorf("position %d:%d, want %d:%d (%v)", pe.Line, pe.Column, tt.line, tt.col, err)
			}
			prefix := "p.toml: "
			if pe.Line > 0 {
				prefix = fmt.Sprintf("p.toml:%d:%d: ", pe.Line, pe.Column)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("message is not one line: %q", msg)
			}
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
		})
	}
}

func TestParseLifetimeBounds(t *testing.T) {
	for _, s := range []string{"5m", "168h", "4h", "300s"} {
		p, err := Parse([]byte("workload.any_module = true\ncertificate.lifetime = \""+s+"\"\n"), "p.toml")
		if err != nil {
			t.Errorf("lifetime %q: %v", s, err)
			continue
		}
		if want, _ := time.ParseDuration(s); p.Lifetime() != want {
			t.Errorf("lifetime %q = %v", s, p.Lifetime())
		}
	}
}

func TestParseErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    ParseError
		want string
	}{
		{ParseError{Name: "a.toml", Line: 3, Column: 7, Msg: "m"}, "a.toml:3:7: m"},
		{ParseError{Name: "a.toml", Line: 3, Msg: "m"}, "a.toml:3: m"},
		{ParseError{Name: "a.toml", Msg: "m"}, "a.toml: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	inner := errors.New("inner")
	if !errors.Is(&ParseError{Err: inner}, inner) {
		t.Error("ParseError does not unwrap")
	}
}

func TestParsedPolicyChecks(t *testing.T) {
	// A parsed policy and its claims end to end: the digests in the file are
	// the ones compared.
	src := "platforms = [\"snp\"]\n[workload]\nmodules = [\"" + hexA + "\"]\n[snp]\nmeasurements = [\"" + hexM + "\"]\n"
	p, err := Parse([]byte(src), "p.toml")
	if err != nil {
		t.Fatal(err)
	}
	c := snpClaims()
	c.ModuleDigest = p.Workload.Modules[0]
	c.Measurement = p.SNP.Measurements[0][:]
	if err := p.Check(c); err != nil {
		t.Fatalf("Check = %v", err)
	}
	c.ModuleDigest[5] ^= 1
	var v *Violation
	if err := p.Check(c); !errors.As(err, &v) || v.Rule != RuleModules {
		t.Errorf("Check with another module = %v", err)
	}
}

func TestParseTooManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("workload.any_module = true\n")
	for i := range MaxKeys {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, err := Parse([]byte(b.String()), "p.toml")
	if err == nil || !strings.Contains(err.Error(), "more than 1000 keys") {
		t.Errorf("%d keys: Parse = %v, want the key limit", MaxKeys+2, err)
	}
	// Dotted keys and inline tables count part by part.
	for _, src := range []string{
		strings.Repeat("a.", MaxKeys) + "b = 1\n",
		"x = [{" + strings.Repeat("a = 1, ", MaxKeys) + "}]\n",
	} {
		if _, err := Parse([]byte(src), "p.toml"); err == nil || !strings.Contains(err.Error(), "more than 1000 keys") {
			t.Errorf("Parse = %v, want the key limit", err)
		}
	}
	// Under the limit, unknown keys are still reported where they are.
	b.Reset()
	b.WriteString("workload.any_module = true\n")
	for i := range 500 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	var pe *ParseError
	if _, err := Parse([]byte(b.String()), "p.toml"); !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(pe.Msg, `"k0"`) {
		t.Errorf("500 unknown keys: Parse = %v, want k0 at line 2", err)
	}
}
