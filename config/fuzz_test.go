package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fuzzSeeds are valid and invalid files covering every rule, so the fuzzer
// starts next to each branch.
var fuzzSeeds = []string{
	"",
	doc(`steward = "https://steward.example.com"`, `args = ["a", "b"]`),
	doc(`steward = "http://127.0.0.1:8080"`),
	doc(`steward = "http://example.com"`),
	doc(`arg = ["x"]`),
	doc(`args = [1]`),
	doc(`[env]`, `A = "1"`, `B = 2`),
	doc(`[env]`, `FD_COUNT = "1"`),
	doc(`env = { "A=B" = "x" }`),
	doc(`[[files]]`, `kind = "stdin"`, `prot = "tcp"`),
	doc(`[[files]]`, `kind = "listen"`, `port = 8443`, `addr = "127.0.0.1"`, `prot = "tcp"`),
	doc(`[[files]]`, `kind = "listen"`, `port = 70000`),
	doc(`[[files]]`, `kind = "connect"`, `host = "db.example"`, `port = 5432`, `name = "db"`),
	doc(`[[files]]`, `kind = "connect"`, `host = "[::1]"`, `port = 1`),
	withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "/d"`, `plain = true`),
	withStdio(`[[files]]`, `kind = "listen"`, `port = 1`, `[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "/d"`),
	withStdio(`[[files]]`, `kind = "dir"`, `host = "d"`, `guest = "d/../e"`),
	doc(`files = [{kind = "null"}, {kind = "stdout", name = "a:b"}]`),
	doc(`[files]`, `kind = "null"`),
	doc(`[limits]`, `memory = "256MiB"`, `timeout = "30s"`),
	doc(`[limits]`, `memory = 65537`),
	doc(`[limits]`, `memory = "1.5GiB"`, `timeout = "0s"`),
	doc(`[limits]`, `memory = "12XB"`),
	doc(`limits.memory = "5GiB"`),
	doc(`[[files.x]]`, `a = 1`),
	doc(`a.b.c.d.e.f = 1`),
	doc(`[env`),
	"args = [\"x\"]\r\n[env]\r\nA = \"\u00e9\"\r\n",
	"a = \"\xff\"\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	examples, err := filepath.Glob(filepath.Join("testdata", "*.toml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(FileName, data)
		if err != nil {
			checkParseError(t, data, err)
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed config does not validate: %v\n%q", err, data)
		}
		if c.Digest() != sha256.Sum256(data) || !bytes.Equal(c.Raw(), data) {
			t.Fatal("the config does not keep the bytes it was parsed from")
		}
		fd := c.FDEnv()
		if fd[0].Value != strconv.Itoa(len(c.Files)) {
			t.Fatalf("FD_COUNT = %s with %d files", fd[0].Value, len(c.Files))
		}
		if len(c.Files) > 0 && strings.Count(fd[1].Value, ":") != len(c.Files)-1 {
			t.Fatalf("FD_NAMES %q does not have one name per file", fd[1].Value)
		}
		for i := 1; i < len(c.Env); i++ {
			if c.Env[i-1].Name >= c.Env[i].Name {
				t.Fatalf("Env is not sorted: %v", c.Env)
			}
		}
		again, err := Parse(FileName, data)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("parsing twice gave different results: %v", err)
		}
	})
}

func checkParseError(t *testing.T, data []byte, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	if ce.File != FileName {
		t.Fatalf("error names file %q", ce.File)
	}
	lines := bytes.Count(data, []byte("\n")) + 1
	if len(data) <= MaxSize && (ce.Line < 1 || ce.Line > lines) {
		t.Fatalf("error line %d is not in the file's 1..%d: %v\n%q", ce.Line, lines, err, data)
	}
	if ce.Column < 0 {
		t.Fatalf("negative column: %v", err)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || ce.Msg == "" {
		t.Fatalf("error is not one non-empty line: %q", msg)
	}
}

func FuzzSize(f *testing.F) {
	for _, s := range []string{"256MiB", "1.5GiB", "100MB", "0", "-1", "12XB", "1G", "18446744073709551616", "0.1KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		// Every size can be written back as a plain byte count.
		if m, err := ParseSize(strconv.FormatUint(n, 10)); err != nil || m != n {
			t.Fatalf("ParseSize(%q) = %d, but ParseSize(%d) = %d, %v", s, n, n, m, err)
		}
	})
}

func FuzzDirFlag(f *testing.F) {
	for _, s := range []string{"data", "/srv/data", "data:/data", ".", "a:b:c", ":", "a:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		file, err := ParseDirFlag(s, false)
		if err != nil {
			return
		}
		// A flag's entry is a valid dir entry once placed at fd 3.
		c := Default()
		c.Files = append(c.Files, file)
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseDirFlag(%q) = %+v, which does not validate: %v", s, file, err)
		}
	})
}
