package keep

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func samplePlan() *Plan {
	return &Plan{
		ModuleName: "app.wasm",
		Args:       []string{"a", "b"},
		Env:        []string{"A=1"},
		FDs: []FD{
			{Kind: FDStdin}, {Kind: FDStdout}, {Kind: FDStderr},
			{Kind: FDDir, HostPath: "/tmp", GuestPath: "/data"},
		},
		MemoryLimitPages: 16,
		Timeout:          time.Second,
		Backend:          "nil",
	}
}

func TestPlanRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	if err := writePlan(&buf, samplePlan(), wasm); err != nil {
		t.Fatal(err)
	}
	p, got, err := readPlan(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, samplePlan()) || !bytes.Equal(got, wasm) {
		t.Fatalf("round trip: %+v %q", p, got)
	}
	// Every truncation is an error, never a short plan.
	for n := range buf.Len() {
		if _, _, err := readPlan(bytes.NewReader(buf.Bytes()[:n])); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Plan){
		"no module name":   func(p *Plan) { p.ModuleName = "" },
		"zero memory":      func(p *Plan) { p.MemoryLimitPages = 0 },
		"too much memory":  func(p *Plan) { p.MemoryLimitPages = 65537 },
		"negative timeout": func(p *Plan) { p.Timeout = -1 },
		"dir without host": func(p *Plan) { p.FDs[3].HostPath = "" },
		"unknown kind":     func(p *Plan) { p.FDs[0].Kind = "listen" },
		"unknown backend":  func(p *Plan) { p.Backend = "kvm" },
	} {
		p := samplePlan()
		mutate(p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := samplePlan().Validate(); err != nil {
		t.Error(err)
	}
}

func TestNearLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		size, limit uint64
		want        bool
	}{
		{32 * mib, 32 * mib, true},
		{30 * mib, 32 * mib, true},
		{16 * mib, 32 * mib, false},
		{900 * mib, 1024 * mib, true},
		{800 * mib, 1024 * mib, false},
	} {
		if got := nearLimit(tc.size, tc.limit); got != tc.want {
			t.Errorf("nearLimit(%d MiB, %d MiB) = %v", tc.size/mib, tc.limit/mib, got)
		}
	}
}

func FuzzReadPlan(f *testing.F) {
	var buf bytes.Buffer
	writePlan(&buf, samplePlan(), []byte("\x00asm"))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := readPlan(bytes.NewReader(data))
		if err == nil && p == nil {
			t.Fatal("nil plan without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "read ") {
			t.Fatalf("unexpected error form: %v", err)
		}
	})
}
