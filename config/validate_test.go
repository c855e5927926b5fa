package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidateCodeBuilt(t *testing.T) {
	listen := File{Kind: KindListen, Addr: netip.IPv6Unspecified(), Port: 443, Prot: ProtTLS}
	dir := File{Kind: KindDir, HostPath: "d", Guest: "/d"}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // "" means valid
	}{
		{"default", func(c *Config) {}, ""},
		{"unnamed entries use their kind", func(c *Config) { c.Files[0].Name = "" }, ""},
		{"listen", func(c *Config) { c.Files = append(c.Files, listen) }, ""},
		{"dir then listen", func(c *Config) { c.Files = append(c.Files, dir, listen) }, ""},
		{"limits", func(c *Config) { c.Limits = Limits{Memory: 2 * PageSize, Timeout: time.Second} }, ""},
		{"bad steward", func(c *Config) { c.Steward = "http://example.com" }, "plain http"},
		{"NUL in an arg", func(c *Config) { c.Args = []string{"ok", "a\x00"} }, "args[1] contains a NUL byte"},
		{"reserved env", func(c *Config) { c.Env = []EnvVar{{"FD_NAMES", "x"}} }, "env.FD_NAMES is set by donjon"},
		{"duplicate env", func(c *Config) { c.Env = []EnvVar{{"A", "1"}, {"A", "2"}} }, "env.A is set twice"},
		{"env value NUL", func(c *Config) { c.Env = []EnvVar{{"A", "\x00"}} }, "env.A contains a NUL byte"},
		{"unknown kind", func(c *Config) { c.Files[1].Kind = "pipe" }, `files[1].kind "pipe" is not a kind`},
		{"name with colon", func(c *Config) { c.Files[2].Name = "a:b" }, `files[2].name "a:b" contains ':'`},
		{"port on stdin", func(c *Config) { c.Files[0].Port = 80 }, `files[0] (kind "stdin") has Port set: clear it; port applies to listen and connect`},
		{"plain on listen", func(c *Config) { l := listen; l.Plain = true; c.Files = append(c.Files, l) }, "has Plain set"},
		{"host path on connect", func(c *Config) {
			c.Files = append(c.Files, File{Kind: KindConnect, Host: "a.example", HostPath: "x", Port: 1, Prot: ProtTCP})
		}, "has HostPath set"},
		{"host on dir", func(c *Config) { d := dir; d.Host = "a.example"; c.Files = append(c.Files, d) }, "has Host set"},
		{"listen without addr", func(c *Config) { l := listen; l.Addr = netip.Addr{}; c.Files = append(c.Files, l) }, "has no addr"},
		{"listen without port", func(c *Config) { l := listen; l.Port = 0; c.Files = append(c.Files, l) }, "has no port"},
		{"listen without prot", func(c *Config) { l := listen; l.Prot = ""; c.Files = append(c.Files, l) }, `files[3].prot "" is not a protocol`},
		{"connect bad host", func(c *Config) {
			c.Files = append(c.Files, File{Kind: KindConnect, Host: "a b", Port: 1, Prot: ProtTLS})
		}, `files[3].host "a b" is not a host name`},
		{"dir without guest", func(c *Config) { d := dir; d.Guest = ""; c.Files = append(c.Files, d) }, "files[3].guest is empty"},
		{"dir without host", func(c *Config) { d := dir; d.HostPath = ""; c.Files = append(c.Files, d) }, "files[3].host is empty"},
		{"dir at fd 0", func(c *Config) { c.Files[0] = dir }, `files[0] (kind "dir") is fd 0`},
		{"dir after listen", func(c *Config) { c.Files = append(c.Files, listen, dir) }, `files[4] (kind "dir") comes after files[3] (kind "listen")`},
		{"memory not in pages", func(c *Config) { c.Limits.Memory = PageSize + 1 }, "not a whole number of 64KiB pages"},
		{"memory too large", func(c *Config) { c.Limits.Memory = 8 << 30 }, "limits.memory 8GiB is more than 4GiB"},
		{"memory too small", func(c *Config) { c.Limits.Memory = 1 }, "less than one 64KiB wasm page"},
		{"negative timeout", func(c *Config) { c.Limits.Timeout = -time.Second }, "limits.timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v, want a *config.Error", err)
			}
			if ce.Line != 0 || ce.File != "config" {
				t.Errorf("error %+v: want file \"config\" and no line", ce)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateNamesTheSource(t *testing.T) {
	c := mustParse(t, "")
	c.Args = []string{"\x00"}
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), FileName+": ") {
		t.Errorf("Validate() = %v, want it to name %s", err, FileName)
	}
}

func TestEnvironSortsCodeBuiltEnv(t *testing.T) {
	c := Default()
	c.Env = []EnvVar{{"Z", "1"}, {"A", "2"}, {"G", "a=b"}}
	c.Files[1].Name = ""
	want := []string{"A=2", "FD_COUNT=3", "FD_NAMES=stdin:stdout:stderr", "G=a=b", "Z=1"}
	got := c.Environ()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Environ() = %q, want %q", got, want)
	}
	if c.Env[0].Name != "Z" {
		t.Error("Environ() reordered the config's own Env")
	}
}
