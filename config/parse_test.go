package config

import (
	"crypto/sha256"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// doc joins lines with newlines, so that a test's line numbers can be read
// off its source: the first argument is line 1.
func doc(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse(FileName, []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func stdio() []File { return defaultFiles() }

func TestParseEnarxExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "Enarx.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(EnarxFileName, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Config{
		Steward: "https://attest.example.net",
		Args:    []string{"--listen-fd", "3", "--log=info"},
		Env: []EnvVar{
			{Name: "GREETING", Value: "hello from a keep"},
			{Name: "RUST_LOG", Value: "info"},
		},
		Files: []File{
			{Kind: KindNull, Name: "null"},
			{Kind: KindStdout, Name: "stdout"},
			{Kind: KindStderr, Name: "stderr"},
			{Kind: KindListen, Name: "api", Addr: netip.IPv6Unspecified(), Port: 8443, Prot: ProtTLS},
			{Kind: KindConnect, Name: "db", Host: "db.internal.example.net", Port: 5432, Prot: ProtTCP},
		},
		source: EnarxFileName,
		raw:    data,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	wantEnv := []string{
		"FD_COUNT=5",
		"FD_NAMES=null:stdout:stderr:api:db",
		"GREETING=hello from a keep",
		"RUST_LOG=info",
	}
	if got := c.Environ(); !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("Environ() = %q, want %q", got, wantEnv)
	}
}

func TestParseEnarxChatExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "Enarx-chat.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(EnarxFileName, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantFiles := append(stdio(), File{Kind: KindListen, Name: "ingest", Addr: netip.MustParseAddr("0.0.0.0"), Port: 50010, Prot: ProtTLS})
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Files = %+v, want %+v", c.Files, wantFiles)
	}
	if !reflect.DeepEqual(c.Args, []string{"--verbose"}) || c.Steward != "" || len(c.Env) != 0 {
		t.Errorf("Args/Steward/Env = %q/%q/%v", c.Args, c.Steward, c.Env)
	}
}

func TestParseDonjonExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "Donjon.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(FileName, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantFiles := append(stdio(),
		File{Kind: KindDir, Name: "dir", HostPath: "state", Guest: "/data"},
		File{Kind: KindDir, Name: "assets", HostPath: "/srv/assets", Guest: "/assets", Plain: true},
		File{Kind: KindListen, Name: "https", Addr: netip.IPv6Unspecified(), Port: 443, Prot: ProtTLS},
	)
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Files = %+v\nwant %+v", c.Files, wantFiles)
	}
	if want := (Limits{Memory: 512 << 20, Timeout: time.Hour}); c.Limits != want {
		t.Errorf("Limits = %+v, want %+v", c.Limits, want)
	}
	if got := c.Limits.MemoryPages(); got != 8192 {
		t.Errorf("MemoryPages() = %d, want 8192", got)
	}
	if got := c.FDEnv(); !reflect.DeepEqual(got, []EnvVar{{"FD_COUNT", "6"}, {"FD_NAMES", "stdin:stdout:stderr:dir:assets:https"}}) {
		t.Errorf("FDEnv() = %v", got)
	}
	if c.Source() != FileName {
		t.Errorf("Source() = %q", c.Source())
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# only a comment\n"} {
		c := mustParse(t, src)
		if !reflect.DeepEqual(c.Files, Default().Files) || c.Args != nil || c.Env != nil || c.Steward != "" || c.Limits != (Limits{}) {
			t.Errorf("Parse(%q) = %+v, want the defaults", src, c)
		}
	}
	d := Default()
	if got := d.FDEnv(); !reflect.DeepEqual(got, []EnvVar{{"FD_COUNT", "3"}, {"FD_NAMES", "stdin:stdout:stderr"}}) {
		t.Errorf("Default().FDEnv() = %v", got)
	}
	if d.Digest() != sha256.Sum256(nil) {
		t.Error("Default().Digest() is not the digest of empty bytes")
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestDigestAndRaw(t *testing.T) {
	src := []byte(doc(`args = ["a"]`))
	c, err := Parse(FileName, src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest() != sha256.Sum256(src) {
		t.Error("Digest() is not the SHA-256 of the bytes parsed")
	}
	// The config keeps its own copy: the caller may reuse its buffer.
	src[0] = 'X'
	raw := c.Raw()
	if string(raw) != doc(`args = ["a"]`) {
		t.Errorf("Raw() = %q after the caller changed its buffer", raw)
	}
	raw[0] = 'Y'
	if c.Raw()[0] != 'a' {
		t.Error("Raw() returned the config's own slice")
	}
	// A byte of whitespace changes the digest: the digest is of the bytes,
	// not of the meaning.
	c2 := mustParse(t, doc(`args = ["a"]`, ``))
	if c2.Digest() == mustParse(t, doc(`args = ["a"]`)).Digest() {
		t.Error("different bytes gave the same digest")
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"steward http on localhost", doc(`steward = "http://localhost:8080/"`), func(t *testing.T, c *Config) {
			if c.Steward != "http://localhost:8080/" {
				t.Errorf("Steward = %q", c.Steward)
			}
		}},
		{"steward http on 127.0.0.2", doc(`steward = "http://127.0.0.2"`), nil},
		{"steward http on ::1", doc(`steward = "http://[::1]:3000"`), nil},
		{"steward https with path", doc(`steward = "https://steward.example.com/v1"`), nil},
		{"empty args", doc(`args = []`), func(t *testing.T, c *Config) {
			if c.Args == nil || len(c.Args) != 0 {
				t.Errorf("Args = %#v, want empty", c.Args)
			}
		}},
		{"args keep empty strings and order", doc(`args = ["b", "", "a"]`), func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.Args, []string{"b", "", "a"}) {
				t.Errorf("Args = %q", c.Args)
			}
		}},
		{"env sorted by name", doc(`[env]`, `Z = "1"`, `A = "2"`, `"M N" = ""`, `b = "x=y"`), func(t *testing.T, c *Config) {
			want := []EnvVar{{"A", "2"}, {"M N", ""}, {"Z", "1"}, {"b", "x=y"}}
			if !reflect.DeepEqual(c.Env, want) {
				t.Errorf("Env = %v, want %v", c.Env, want)
			}
		}},
		{"env as inline table", doc(`env = { A = "1" }`), func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.Env, []EnvVar{{"A", "1"}}) {
				t.Errorf("Env = %v", c.Env)
			}
		}},
		{"empty files means no fds", doc(`files = []`), func(t *testing.T, c *Config) {
			if len(c.Files) != 0 {
				t.Errorf("Files = %v", c.Files)
			}
			if got := c.FDEnv(); !reflect.DeepEqual(got, []EnvVar{{"FD_COUNT", "0"}, {"FD_NAMES", ""}}) {
				t.Errorf("FDEnv() = %v", got)
			}
		}},
		{"files as inline array", doc(`files = [{kind = "null"}, {kind = "stdout", name = "out"}]`), func(t *testing.T, c *Config) {
			want := []File{{Kind: KindNull, Name: "null"}, {Kind: KindStdout, Name: "out"}}
			if !reflect.DeepEqual(c.Files, want) {
				t.Errorf("Files = %+v", c.Files)
			}
		}},
		{"listen defaults", doc(`[[files]]`, `kind = "listen"`, `port = 1`), func(t *testing.T, c *Config) {
			want := []File{{Kind: KindListen, Name: "listen", Addr: netip.IPv6Unspecified(), Port: 1, Prot: ProtTLS}}
			if !reflect.DeepEqual(c.Files, want) {
				t.Errorf("Files = %+v", c.Files)
			}
		}},
		{"listen tcp on 65535", doc(`[[files]]`, `kind = "listen"`, `port = 65535`, `prot = "tcp"`, `addr = "127.0.0.1"`), func(t *testing.T, c *Config) {
			f := c.Files[0]
			if f.Port != 65535 || f.Prot != ProtTCP || f.Addr != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("File = %+v", f)
			}
		}},
		{"connect to an IPv6 address", doc(`[[files]]`, `kind = "connect"`, `host = "2001:db8::1"`, `port = 443`), func(t *testing.T, c *Config) {
			if f := c.Files[0]; f.Host != "2001:db8::1" || f.Prot != ProtTLS || f.Name != "connect" {
				t.Errorf("File = %+v", f)
			}
		}},
		{"connect to a name with a trailing dot", doc(`[[files]]`, `kind = "connect"`, `host = "db.example."`, `port = 5432`), nil},
		{"dir guest root", doc(`files = [{kind="stdin"},{kind="stdout"},{kind="stderr"},{kind="dir",host=".",guest="/"}]`), func(t *testing.T, c *Config) {
			if f := c.Files[3]; f.Guest != "/" || f.HostPath != "." || f.Plain || f.Name != "dir" {
				t.Errorf("File = %+v", f)
			}
		}},
		{"nested guest paths are distinct", doc(`files = [{kind="null"},{kind="null"},{kind="null"},{kind="dir",host="a",guest="/d"},{kind="dir",host="b",guest="/d/e"}]`), nil},
		{"dir plain false", doc(`files = [{kind="null"},{kind="null"},{kind="null"},{kind="dir",host="a",guest="/d",plain=false}]`), nil},
		{"memory integer rounds up", doc(`[limits]`, `memory = 65537`), func(t *testing.T, c *Config) {
			if c.Limits.Memory != 2*PageSize {
				t.Errorf("Memory = %d, want %d", c.Limits.Memory, 2*PageSize)
			}
		}},
		{"memory string rounds up", doc(`limits.memory = "100000"`), func(t *testing.T, c *Config) {
			if c.Limits.Memory != 2*PageSize {
				t.Errorf("Memory = %d", c.Limits.Memory)
			}
		}},
		{"memory 4GiB", doc(`limits = { memory = "4GiB" }`), func(t *testing.T, c *Config) {
			if c.Limits.Memory != MaxMemory || c.Limits.MemoryPages() != 65536 {
				t.Errorf("Memory = %d", c.Limits.Memory)
			}
		}},
		{"memory 64KiB", doc(`[limits]`, `memory = "64KiB"`), func(t *testing.T, c *Config) {
			if c.Limits.Memory != PageSize {
				t.Errorf("Memory = %d", c.Limits.Memory)
			}
		}},
		{"timeout", doc(`[limits]`, `timeout = "1m30s"`), func(t *testing.T, c *Config) {
			if c.Limits.Timeout != 90*time.Second || c.Limits.Memory != 0 {
				t.Errorf("Limits = %+v", c.Limits)
			}
		}},
		{"CRLF line endings", "args = [\"x\"]\r\n[env]\r\nA = \"1\"\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() of a parsed config = %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// stdioLines is three [[files]] entries for lines 1-6, so that dir entries
// can follow at fd 3.
var stdioLines = []string{
	`[[files]]`, `kind = "stdin"`,
	`[[files]]`, `kind = "stdout"`,
	`[[files]]`, `kind = "stderr"`,
}

func withStdio(lines ...string) string {
	return doc(append(append([]string{}, stdioLines...), lines...)...)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		col  int // 0: not checked
		want []string
	}{
		// TOML syntax
		{"syntax: missing value", doc(`args = ["a"]`, ``, `steward = `), 3, 11, []string{"invalid TOML", "toml.io"}},
		{"syntax: unclosed table", doc(`[env`, `A = "1"`), 1, 0, []string{"invalid TOML", "']'"}},
		{"syntax: duplicate key", doc(`args = []`, `args = []`), 2, 1, []string{"invalid TOML", "already defined"}},
		{"syntax: integer overflow", doc(``, `[limits]`, `memory = 99999999999999999999`), 3, 0, []string{"invalid TOML"}},
		{"syntax: column in characters", doc(`[env]`, `"é" = 1 2`), 2, 9, []string{"invalid TOML"}},

		// top level
		{"unknown key with suggestion", doc(``, ``, `arg = ["x"]`), 3, 1, []string{`unknown key "arg": did you mean "args"?`}},
		{"unknown key by case", doc(`Steward = "https://x.example"`), 1, 1, []string{`did you mean "steward"?`}},
		{"unknown key without suggestion", doc(`[network]`, `x = 1`), 1, 2, []string{`unknown key "network": remove it; the top-level keys are steward, args, env, files, limits and tls`}},
		{"unknown key from dotted key", doc(`args = []`, `foo.bar = 1`), 2, 1, []string{`unknown key "foo"`}},

		// steward
		{"steward not a string", doc(`steward = 1`), 1, 11, []string{"steward must be a string, not an integer"}},
		{"steward empty", doc(`steward = ""`), 1, 11, []string{"steward is empty", "remove the key"}},
		{"steward not a URL", doc(`steward = "steward.example.com"`), 1, 11, []string{`steward "steward.example.com" is not a URL`, "https://"}},
		{"steward plain http", doc(`steward = "http://steward.example.com"`), 1, 0, []string{"plain http", "use https"}},
		{"steward http lookalike host", doc(`steward = "http://localhost.example.com"`), 1, 0, []string{"plain http"}},
		{"steward other scheme", doc(`steward = "ftp://steward.example.com"`), 1, 0, []string{`scheme "ftp"`}},
		{"steward no host", doc(`steward = "https:///path"`), 1, 0, []string{"has no host"}},
		{"steward credentials", doc(`steward = "https://user:pw@steward.example.com"`), 1, 0, []string{"user name or password"}},

		// args
		{"args not an array", doc(`args = "--flag"`), 1, 8, []string{"args must be an array of strings, not a string"}},
		{"args element not a string", doc(`args = [`, `  "a",`, `  8080,`, `]`), 3, 3, []string{"args[1] must be a string, not an integer"}},
		{"args NUL", doc(`args = ["a\u0000b"]`), 1, 9, []string{"args[0] contains a NUL byte"}},

		// env
		{"env not a table", doc(`env = ["A=1"]`), 1, 7, []string{"env must be a table, not an array"}},
		{"env value not a string", doc(`[env]`, `A = "1"`, `PORT = 8080`), 3, 8, []string{"env.PORT must be a string, not an integer", "quotes"}},
		{"env value a table", doc(`[env.SUB]`, `X = "1"`), 1, 0, []string{"env.SUB must be a string, not a table"}},
		{"env empty name", doc(`[env]`, `"" = "x"`), 2, 1, []string{"empty name"}},
		{"env name with =", doc(`[env]`, `"A=B" = "x"`), 2, 1, []string{`"A=B" contains '='`}},
		{"env name with NUL", doc(`[env]`, `"A\u0000" = "x"`), 2, 1, []string{"NUL"}},
		{"env value with NUL", doc(`[env]`, `A = "x\u0000"`), 2, 5, []string{"env.A contains a NUL byte"}},
		{"env FD_COUNT reserved", doc(`[env]`, `FD_COUNT = "3"`), 2, 1, []string{"env.FD_COUNT is set by donjon", "remove it"}},
		{"env FD_NAMES reserved", doc(`env.FD_NAMES = "a"`), 1, 0, []string{"env.FD_NAMES is set by donjon"}},

		// files: shape
		{"files as a table", doc(`[files]`, `kind = "stdin"`), 1, 0, []string{"files must be an array of tables, not a table", "[[files]]"}},
		{"files element not a table", doc(`files = [{kind = "null"}, "stdin"]`), 1, 27, []string{"files[1] must be a table, not a string"}},
		{"files missing kind", doc(`[[files]]`, `kind = "stdin"`, `[[files]]`, `name = "out"`), 3, 0, []string{"files[1] has no kind", "null, stdin, stdout, stderr, listen, connect and dir"}},
		{"files kind not a string", doc(`[[files]]`, `kind = 1`), 2, 8, []string{"files[0].kind must be a string, not an integer"}},
		{"files unknown kind with suggestion", doc(`[[files]]`, `kind = "stdout"`, `[[files]]`, `kind = "listem"`), 4, 8, []string{`files[1].kind "listem" is not a kind: did you mean "listen"?`}},
		{"files unknown kind", doc(`[[files]]`, `kind = "socket"`), 2, 8, []string{`files[0].kind "socket" is not a kind: use one of null`}},

		// files: keys per kind
		{"prot on stdin", doc(`[[files]]`, `kind = "stdin"`, `[[files]]`, `kind = "stdout"`, `[[files]]`, `kind = "stdin"`, `prot = "tcp"`), 7, 1,
			[]string{`unknown key "prot" in files[2] (kind "stdin"): remove it; prot applies to listen and connect`}},
		{"port on null", doc(`files = [{ kind = "null", port = 80 }]`), 1, 27, []string{`unknown key "port" in files[0] (kind "null")`, "listen and connect"}},
		{"addr on connect", doc(`[[files]]`, `kind = "connect"`, `host = "x.example"`, `port = 1`, `addr = "::"`), 5, 1, []string{`"addr"`, "addr applies to listen"}},
		{"guest on listen", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `guest = "/x"`), 4, 1, []string{`"guest"`, "guest applies to dir"}},
		{"host on listen", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `host = "x"`), 4, 1, []string{"host applies to connect and dir"}},
		{"typo in entry key", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `prto = "tcp"`), 4, 1, []string{`unknown key "prto" in files[0] (kind "listen"): did you mean "prot"?`}},
		{"unknown entry key", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `backlog = 5`), 4, 1, []string{`unknown key "backlog"`, "a listen entry takes kind, name, addr, port, prot, client_ca, require, peer_modules, peer_configs and allow_insecure"}},
		{"name not a string", doc(`[[files]]`, `kind = "stdin"`, `name = 0`), 3, 8, []string{"files[0].name must be a string, not an integer"}},
		{"name with colon", doc(`[[files]]`, `kind = "stdin"`, `name = "a:b"`), 3, 8, []string{`files[0].name "a:b" contains ':'`, "FD_NAMES"}},
		{"name empty", doc(`[[files]]`, `kind = "stdin"`, `name = ""`), 3, 8, []string{"files[0].name is empty"}},

		// listen and connect
		{"listen without port", doc(`[[files]]`, `kind = "listen"`), 1, 0, []string{`files[0] (kind "listen") has no port: add port =`}},
		{"port zero", doc(`[[files]]`, `kind = "listen"`, `port = 0`), 3, 8, []string{"files[0].port 0 is out of range", "1 to 65535"}},
		{"port too large", doc(`[[files]]`, `kind = "listen"`, `port = 65536`), 3, 8, []string{"files[0].port 65536 is out of range"}},
		{"port negative", doc(`[[files]]`, `kind = "connect"`, `host = "x.example"`, `port = -1`), 4, 8, []string{"files[0].port -1 is out of range"}},
		{"port a string", doc(`[[files]]`, `kind = "listen"`, `port = "8080"`), 3, 8, []string{"files[0].port must be an integer, not a string"}},
		{"port a float", doc(`[[files]]`, `kind = "listen"`, `port = 80.0`), 3, 8, []string{"files[0].port must be an integer, not a float"}},
		{"prot unknown", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `prot = "udp"`), 4, 8, []string{`files[0].prot "udp" is not a protocol`, `"tls"`, `"tcp"`}},
		{"prot upper case", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `prot = "TLS"`), 4, 8, []string{`files[0].prot "TLS" is not a protocol`}},
		{"addr not an IP", doc(`[[files]]`, `kind = "listen"`, `port = 1`, `addr = "localhost"`), 4, 8, []string{`files[0].addr "localhost" is not an IP address`}},
		{"connect without host", doc(`[[files]]`, `kind = "connect"`, `port = 1`), 1, 0, []string{`files[0] (kind "connect") has no host`}},
		{"connect host with port", doc(`[[files]]`, `kind = "connect"`, `host = "db.example:5432"`, `port = 1`), 3, 8, []string{"not a host name", "put the port in port"}},
		{"connect host in brackets", doc(`[[files]]`, `kind = "connect"`, `host = "[::1]"`, `port = 1`), 3, 8, []string{"without brackets"}},
		{"connect host with space", doc(`[[files]]`, `kind = "connect"`, `host = "a b"`, `port = 1`), 3, 8, []string{`files[0].host "a b" is not a host name or IP address`}},
		{"connect host empty", doc(`[[files]]`, `kind = "connect"`, `host = ""`, `port = 1`), 3, 8, []string{`files[0].host "" is not a host name`}},
		{"connect host empty label", doc(`[[files]]`, `kind = "connect"`, `host = "a..b"`, `port = 1`), 3, 8, []string{"1 to 63 characters"}},

		// dir
		{"dir without host", withStdio(`[[files]]`, `kind = "dir"`, `guest = "/d"`), 7, 0, []string{`files[3] (kind "dir") has no host`}},
		{"dir without guest", withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`), 7, 0, []string{`files[3] (kind "dir") has no guest`}},
		{"dir host empty", withStdio(`[[files]]`, `kind = "dir"`, `host = ""`, `guest = "/d"`), 9, 8, []string{"files[3].host is empty"}},
		{"dir guest relative", withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "data"`), 10, 9, []string{`files[3].guest "data" is not absolute: write "/data"`}},
		{"dir guest unclean", withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "/a/../b/"`), 10, 9, []string{`is not clean: write "/b"`}},
		{"dir guest trailing slash", withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "/data/"`), 10, 9, []string{`write "/data"`}},
		{"dir plain not a bool", withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "/d"`, `plain = "yes"`), 11, 9, []string{"files[3].plain must be a boolean, not a string"}},
		{"dir duplicate guest", withStdio(`[[files]]`, `kind = "dir"`, `host = "a"`, `guest = "/d"`, `[[files]]`, `kind = "dir"`, `host = "b"`, `guest = "/d"`), 11, 0,
			[]string{`files[4].guest "/d" is already the guest path of files[3]`}},
		{"dir after listen", withStdio(`[[files]]`, `kind = "listen"`, `port = 1`, `[[files]]`, `kind = "dir"`, `host = "a"`, `guest = "/d"`), 10, 0,
			[]string{`files[4] (kind "dir") comes after files[3] (kind "listen")`, "scanning fds from 3"}},
		{"dir after null", withStdio(`[[files]]`, `kind = "null"`, `[[files]]`, `kind = "dir"`, `host = "a"`, `guest = "/d"`), 9, 0,
			[]string{`files[4] (kind "dir") comes after files[3] (kind "null")`}},
		{"dir at fd 1", doc(`files = [`, `  {kind = "stdin"},`, `  {kind = "dir", host = "a", guest = "/d"},`, `]`), 3, 3,
			[]string{`files[1] (kind "dir") is fd 1`, "from fd 3 on"}},

		// limits
		{"limits not a table", doc(`limits = "256MiB"`), 1, 10, []string{"limits must be a table, not a string"}},
		{"limits typo", doc(`[limits]`, `memroy = "1GiB"`), 2, 1, []string{`unknown key "memroy" in [limits]: did you mean "memory"?`}},
		{"limits unknown", doc(`[limits]`, `cpus = 2`), 2, 1, []string{`unknown key "cpus" in [limits]: remove it; [limits] takes memory and timeout`}},
		{"memory bad unit", doc(`args = []`, ``, `[limits]`, `timeout = "5s"`, ``, ``, ``, ``, ``, ``, ``, `memory = "12XB"`), 12, 10,
			[]string{`limits.memory "12XB" is not a size`, `unknown unit "XB"`, `use e.g. "256MiB"`}},
		{"memory negative", doc(`[limits]`, `memory = -1`), 2, 10, []string{"limits.memory -1 is negative"}},
		{"memory zero", doc(`[limits]`, `memory = 0`), 2, 10, []string{"less than one 64KiB wasm page"}},
		{"memory below a page", doc(`[limits]`, `memory = "1KiB"`), 2, 10, []string{`limits.memory "1KiB" is less than one 64KiB wasm page`}},
		{"memory above 4GiB", doc(`[limits]`, `memory = "5GiB"`), 2, 10, []string{`limits.memory "5GiB" is more than 4GiB`}},
		{"memory one byte above 4GiB", doc(`[limits]`, `memory = 4294967297`), 2, 10, []string{"more than 4GiB"}},
		{"memory a float", doc(`[limits]`, `memory = 1.5`), 2, 10, []string{"limits.memory must be a size string or an integer, not a float"}},
		{"memory fraction of a byte", doc(`[limits]`, `memory = "1.5B"`), 2, 10, []string{"not a whole number of bytes"}},
		{"timeout not a duration", doc(`[limits]`, `timeout = "5"`), 2, 11, []string{`limits.timeout "5" is not a duration`, `"30s"`}},
		{"timeout in days", doc(`[limits]`, `timeout = "1d"`), 2, 11, []string{"is not a duration"}},
		{"timeout zero", doc(`[limits]`, `timeout = "0s"`), 2, 11, []string{"is not positive", "remove the key"}},
		{"timeout negative", doc(`[limits]`, `timeout = "-5s"`), 2, 11, []string{"is not positive"}},
		{"timeout integer", doc(`[limits]`, `timeout = 30`), 2, 11, []string{"limits.timeout must be a duration string, not an integer"}},
		{"timeout date", doc(`[limits]`, `timeout = 1979-05-27`), 2, 11, []string{"not a date or time"}},

		// several problems: the first in the file is reported
		{"first problem wins", doc(`[limits]`, `memory = "x"`, `[env]`, `A = 1`, ``, `zzz = 1`), 2, 0, []string{"limits.memory"}},
		{"first problem wins across tables", doc(`[env]`, `A = 1`, `[limits]`, `memory = "x"`), 2, 0, []string{"env.A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(FileName, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.File != FileName {
				t.Errorf("File = %q", ce.File)
			}
			if ce.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", ce.Line, tt.line, err)
			}
			if tt.col != 0 && ce.Column != tt.col {
				t.Errorf("Column = %d, want %d (%v)", ce.Column, tt.col, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error is not one line: %q", err)
			}
			if !strings.HasPrefix(err.Error(), FileName+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestParseSyntaxErrorWrapsDecodeError(t *testing.T) {
	_, err := Parse("x.toml", []byte("a = \n"))
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v does not wrap a *toml.DecodeError", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte("# " + strings.Repeat("x", MaxSize) + "\n")
	_, err := Parse(FileName, data)
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 0 || !strings.Contains(ce.Msg, "1MiB limit") {
		t.Fatalf("Parse of %d bytes = %v", len(data), err)
	}
}

func TestParseLongValuesAreShortenedInMessages(t *testing.T) {
	long := strings.Repeat("a", 10000)
	_, err := Parse(FileName, []byte(doc(`[[files]]`, `kind = "`+long+`"`)))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if len(err.Error()) > 400 {
		t.Errorf("error is %d bytes long: %.100q...", len(err.Error()), err)
	}
	if !strings.Contains(err.Error(), `"aaaa`) || !strings.Contains(err.Error(), `..."`) {
		t.Errorf("error %q does not show a shortened value", err)
	}
}

func TestParseControlCharactersStayOnOneLine(t *testing.T) {
	_, err := Parse(FileName, []byte(doc(`[[files]]`, `kind = "a\nb\rc"`)))
	if err == nil || strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("error = %q", err)
	}
}

// Hostile shapes of hundreds of kilobytes must be rejected with a position.
// Costs that grew faster than the file would show as a test that never ends
// (a quadratic walk of these inputs takes hours); linear ones take well
// under a second each.
func TestParseHostileShapes(t *testing.T) {
	manyOnOneLine := "files = [" + strings.Repeat(`{kind="stdin",port=1},`, 40000) + "]\n"
	tests := map[string]struct {
		src  string
		line int
	}{
		"long dotted key":       {strings.Repeat("a.", 200000) + "a = 1\n", 1},
		"deeply nested arrays":  {"\nargs = " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n", 2},
		"long table header":     {"[" + strings.Repeat("t.", 200000) + "t]\n", 1},
		"deep inline tables":    {"limits = " + strings.Repeat("{a=", 3000) + "1" + strings.Repeat("}", 3000) + "\n", 1},
		"many errors":           {"[[files]]\nkind = \"x\"\n" + strings.Repeat("[[files]]\nkind = \"stdin\"\nport = 1\n", 30000), 2},
		"many errors, one line": {manyOnOneLine, 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if len(tt.src) > MaxSize {
				t.Fatalf("test input is %d bytes, over MaxSize", len(tt.src))
			}
			_, err := Parse(FileName, []byte(tt.src))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			if ce.Line != tt.line {
				t.Errorf("error is on line %d, want %d: %v", ce.Line, tt.line, err)
			}
		})
	}
}

func TestParseManyFiles(t *testing.T) {
	c := mustParse(t, strings.Repeat("[[files]]\nkind = \"null\"\n", 20000))
	if len(c.Files) != 20000 || c.FDEnv()[0].Value != "20000" {
		t.Errorf("got %d files, FDEnv %v", len(c.Files), c.FDEnv()[0])
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "Donjon.toml", Line: 7, Column: 3, Msg: "m"}, "Donjon.toml:7:3: m"},
		{Error{File: "Donjon.toml", Line: 7, Msg: "m"}, "Donjon.toml:7: m"},
		{Error{File: "--dir", Msg: "m"}, "--dir: m"},
		{Error{File: "Donjon.toml", Column: 4, Msg: "m"}, "Donjon.toml: m"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	inner := errors.New("inner")
	if !errors.Is(&Error{Err: inner}, inner) {
		t.Error("Unwrap does not reach the underlying error")
	}
}
