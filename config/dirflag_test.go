package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDirFlag(t *testing.T) {
	tests := []struct {
		in          string
		host, guest string
	}{
		{"/srv/data", "/srv/data", "/srv/data"},
		{"/srv/data/", "/srv/data/", "/srv/data"},
		{"data", "data", "/data"},
		{"./data", "./data", "/data"},
		{"a/../b", "a/../b", "/b"},
		{".", ".", "/"},
		{"..", "..", "/"},
		{"data:/data", "data", "/data"},
		{"/var/lib/app:/state", "/var/lib/app", "/state"},
		{"state:/", "state", "/"},
		{"with space:/with space", "with space", "/with space"},
	}
	for _, tt := range tests {
		for _, plain := range []bool{false, true} {
			f, err := ParseDirFlag(tt.in, plain)
			want := File{Kind: KindDir, Name: "dir", HostPath: tt.host, Guest: tt.guest, Plain: plain}
			if err != nil || !reflect.DeepEqual(f, want) {
				t.Errorf("ParseDirFlag(%q, %v) = %+v, %v; want %+v", tt.in, plain, f, err, want)
			}
		}
	}
}

func TestParseDirFlagErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "has no host directory"},
		{":/data", "has no host directory"},
		{"data:", "empty guest path"},
		{"data:data", `guest path "data" is not absolute: write "/data"`},
		{"data:/a/./b", `guest path "/a/./b" is not clean: write "/a/b"`},
		{"data:/data/", `write "/data"`},
		{"a:b:c", "more than one ':'"},
		{"C::/x", "more than one ':'"},
		{"a\x00b", "NUL"},
		{"a:/b\x00", "NUL"},
	}
	for _, tt := range tests {
		f, err := ParseDirFlag(tt.in, false)
		if err == nil {
			t.Errorf("ParseDirFlag(%q) = %+v, want an error", tt.in, f)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.File != "--dir" || ce.Line != 0 {
			t.Errorf("ParseDirFlag(%q) error %#v is not a config.Error for --dir", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "--dir: ") {
			t.Errorf("ParseDirFlag(%q) error %q does not contain %q", tt.in, err, tt.want)
		}
	}
}

// A --dir flag's entry goes after the file's dir entries; Validate then
// applies the same rules Parse does.
func TestParseDirFlagThenValidate(t *testing.T) {
	c := mustParse(t, withStdio(`[[files]]`, `kind = "dir"`, `host = "a"`, `guest = "/data"`))
	f, err := ParseDirFlag("b:/data", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Files = append(c.Files, f)
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), `files[4].guest "/data" is already the guest path of files[3]`) {
		t.Fatalf("Validate() = %v, want a duplicate guest error", err)
	}
	c.Files[4].Guest = "/more"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}
