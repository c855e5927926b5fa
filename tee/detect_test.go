package tee

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

// cpuinfo renders a two-processor /proc/cpuinfo with the given vendor and
// flags, padded with the flags every x86 machine has.
func cpuinfo(vendor string, flags ...string) *fstest.MapFile {
	all := append([]string{"fpu", "vme", "de", "pse", "tsc", "msr"}, flags...)
	all = append(all, "avx2", "sha_ni")
	var b strings.Builder
	for i := range 2 {
		b.WriteString("processor\t: " + string(rune('0'+i)) + "\n")
		b.WriteString("vendor_id\t: " + vendor + "\n")
		b.WriteString("model name\t: test cpu\n")
		b.WriteString("flags\t\t: " + strings.Join(all, " ") + "\n")
		b.WriteString("bugs\t\t: sysret_ss_attrs\n\n")
	}
	return &fstest.MapFile{Data: []byte(b.String())}
}

var (
	device    = &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600}
	dir       = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	mountsOff = &fstest.MapFile{Data: []byte("proc /proc proc rw,relatime 0 0\nsysfs /sys sysfs rw,relatime 0 0\n")}
	mountsOn  = &fstest.MapFile{Data: []byte("proc /proc proc rw,relatime 0 0\nsysfs /sys sysfs rw,relatime 0 0\n" +
		"configfs /sys/kernel/config configfs rw,nosuid,nodev,noexec,relatime 0 0\n")}
)

func provider(name string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(name + "\n")}
}

// The fake machines. Each is the part of a root file system detection reads.
var (
	// plainVM is this development machine: an AMD VM without SEV, on a
	// kernel without configfs.
	plainVM = fstest.MapFS{
		"proc/cpuinfo": cpuinfo("AuthenticAMD", "hypervisor"),
		"proc/mounts":  mountsOff,
	}
	snpGuestTSM = fstest.MapFS{
		"proc/cpuinfo":  cpuinfo("AuthenticAMD", "hypervisor", "sev", "sev_es", "sev_snp"),
		"proc/mounts":   mountsOn,
		"dev/sev-guest": device,
		"sys/kernel/config/tsm/report/donjon0/provider": provider("sev_guest"),
	}
	// snpGuestTSMNoEntry has configfs-tsm but no report entry to read a
	// provider from.
	snpGuestTSMNoEntry = fstest.MapFS{
		"proc/cpuinfo":                 cpuinfo("AuthenticAMD", "hypervisor", "sev", "sev_es", "sev_snp"),
		"proc/mounts":                  mountsOn,
		"dev/sev-guest":                device,
		"sys/kernel/config/tsm/report": dir,
	}
	// snpGuestOldKernel predates configfs-tsm (Linux < 6.7): /dev/sev-guest only.
	snpGuestOldKernel = fstest.MapFS{
		"proc/cpuinfo":  cpuinfo("AuthenticAMD", "hypervisor", "sev", "sev_es", "sev_snp"),
		"proc/mounts":   mountsOff,
		"dev/sev-guest": device,
	}
	snpGuestConfigfsUnmounted = fstest.MapFS{
		"proc/cpuinfo":      cpuinfo("AuthenticAMD", "hypervisor", "sev", "sev_es", "sev_snp"),
		"proc/mounts":       mountsOff,
		"dev/sev-guest":     device,
		"sys/kernel/config": dir,
	}
	snpGuestNoDriver = fstest.MapFS{
		"proc/cpuinfo": cpuinfo("AuthenticAMD", "hypervisor", "sev", "sev_es", "sev_snp"),
		"proc/mounts":  mountsOff,
	}
	sevESGuest = fstest.MapFS{
		"proc/cpuinfo": cpuinfo("AuthenticAMD", "hypervisor", "sev", "sev_es"),
		"proc/mounts":  mountsOff,
	}
	// snpHost is a KVM hypervisor with SEV-SNP enabled: the flags are there
	// but it is not a guest.
	snpHost = fstest.MapFS{
		"proc/cpuinfo":      cpuinfo("AuthenticAMD", "sev", "sev_es", "sev_snp"),
		"proc/mounts":       mountsOn,
		"dev/kvm":           device,
		"sys/kernel/config": dir,
	}
	tdxGuest = fstest.MapFS{
		"proc/cpuinfo":  cpuinfo("GenuineIntel", "hypervisor", "tdx_guest"),
		"proc/mounts":   mountsOn,
		"dev/tdx_guest": device,
		"sys/kernel/config/tsm/report/donjon0/provider": provider("tdx_guest"),
	}
	tdxGuestNoTSM = fstest.MapFS{
		"proc/cpuinfo":  cpuinfo("GenuineIntel", "hypervisor", "tdx_guest"),
		"proc/mounts":   mountsOff,
		"dev/tdx_guest": device,
	}
	tdxHost = fstest.MapFS{
		"proc/cpuinfo": cpuinfo("GenuineIntel", "tdx_host_platform"),
		"proc/mounts":  mountsOff,
	}
	intelVM = fstest.MapFS{
		"proc/cpuinfo": cpuinfo("GenuineIntel", "hypervisor"),
		"proc/mounts":  mountsOff,
	}
)

type verdict struct {
	available bool
	iface     string
	details   string // a substring the details must contain
}

func TestDetectFakeMachines(t *testing.T) {
	tests := []struct {
		name     string
		machine  fstest.MapFS
		snp, tdx verdict
		best     Backend
	}{
		{
			name: "plain VM", machine: plainVM, best: Nil,
			snp: verdict{details: "not an SEV-SNP guest (no sev_snp cpu flag, no /dev/sev-guest): run donjon in a VM launched with SEV-SNP"},
			tdx: verdict{details: "AMD CPU: TDX needs an Intel Xeon host"},
		},
		{
			name: "SNP guest with configfs-tsm", machine: snpGuestTSM, best: SNP,
			snp: verdict{available: true, iface: InterfaceConfigfsTSM, details: "provider sev_guest"},
			tdx: verdict{details: "this is an AMD SEV-SNP guest, not a TDX guest"},
		},
		{
			name: "SNP guest with configfs-tsm, no report entry", machine: snpGuestTSMNoEntry, best: SNP,
			snp: verdict{available: true, iface: InterfaceConfigfsTSM, details: "/dev/sev-guest present, reports via configfs-tsm"},
			tdx: verdict{details: "not a TDX guest"},
		},
		{
			name: "SNP guest with only /dev/sev-guest", machine: snpGuestOldKernel, best: SNP,
			snp: verdict{available: true, iface: InterfaceSEVGuest, details: "/dev/sev-guest ioctl (the kernel has no configfs"},
			tdx: verdict{details: "not a TDX guest"},
		},
		{
			name: "SNP guest with configfs unmounted", machine: snpGuestConfigfsUnmounted, best: SNP,
			snp: verdict{available: true, iface: InterfaceSEVGuest, details: "mount -t configfs none /sys/kernel/config"},
			tdx: verdict{details: "not a TDX guest"},
		},
		{
			name: "SNP guest without driver", machine: snpGuestNoDriver, best: Nil,
			snp: verdict{details: "modprobe sev-guest"},
			tdx: verdict{details: "not a TDX guest"},
		},
		{
			name: "SEV-ES guest", machine: sevESGuest, best: Nil,
			snp: verdict{details: "this VM runs SEV or SEV-ES, not SEV-SNP"},
			tdx: verdict{details: "AMD CPU"},
		},
		{
			name: "SNP host", machine: snpHost, best: Nil,
			snp: verdict{details: "this is an SEV-SNP host, not a guest: run donjon inside an SNP guest VM"},
			tdx: verdict{details: "AMD CPU"},
		},
		{
			name: "TDX guest", machine: tdxGuest, best: TDX,
			snp: verdict{details: "this is an Intel TDX guest, not an SEV-SNP guest"},
			tdx: verdict{available: true, iface: InterfaceConfigfsTSM, details: "provider tdx_guest"},
		},
		{
			name: "TDX guest without configfs-tsm", machine: tdxGuestNoTSM, best: Nil,
			snp: verdict{details: "Intel TDX guest"},
			tdx: verdict{details: "TDX guest, but quotes need configfs-tsm (the kernel has no configfs"},
		},
		{
			name: "TDX host", machine: tdxHost, best: Nil,
			snp: verdict{details: "Intel CPU: SEV-SNP needs an AMD EPYC host"},
			tdx: verdict{details: "this is a TDX host, not a guest"},
		},
		{
			name: "Intel VM", machine: intelVM, best: Nil,
			snp: verdict{details: "Intel CPU"},
			tdx: verdict{details: "not a TDX guest (no tdx_guest cpu flag, no /dev/tdx_guest)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Detect(t.Context(), FSProbe{FS: tt.machine})
			checkShape(t, r)
			checkVerdict(t, r, SNP, tt.snp)
			checkVerdict(t, r, TDX, tt.tdx)
			if got := r.Best(); got != tt.best {
				t.Errorf("Best() = %q, want %q", got, tt.best)
			}
			if len(r.Machine.Problems) != 0 {
				t.Errorf("unexpected problems: %q", r.Machine.Problems)
			}
		})
	}
}

// checkShape asserts what holds on every machine: one entry per backend in
// order, nil always available with its warning, sgx never, one-line details.
func checkShape(t *testing.T, r Report) {
	t.Helper()
	var got []Backend
	for _, s := range r.Backends {
		got = append(got, s.Backend)
		if s.Details == "" || strings.ContainsAny(s.Details, "\n\r\t") {
			t.Errorf("%s: details %q must be one non-empty line", s.Backend, s.Details)
		}
		if !s.Available && s.Interface != "" {
			t.Errorf("%s: unavailable but interface %q", s.Backend, s.Interface)
		}
	}
	if !slices.Equal(got, Backends()) {
		t.Fatalf("backends = %q, want %q", got, Backends())
	}
	n, _ := r.Status(Nil)
	if !n.Available || !n.Implemented || n.Details != "development only: no isolation, no attestation, nothing is protected" {
		t.Errorf("nil status = %+v", n)
	}
	s, _ := r.Status(SGX)
	if s.Available || s.Implemented || !strings.Contains(s.Details, "not implemented") {
		t.Errorf("sgx status = %+v", s)
	}
}

func checkVerdict(t *testing.T, r Report, b Backend, want verdict) {
	t.Helper()
	s, ok := r.Status(b)
	if !ok {
		t.Fatalf("no status for %s", b)
	}
	if s.Available != want.available || s.Interface != want.iface || !s.Implemented {
		t.Errorf("%s: available=%v interface=%q implemented=%v, want available=%v interface=%q implemented=true (details %q)",
			b, s.Available, s.Interface, s.Implemented, want.available, want.iface, s.Details)
	}
	if !strings.Contains(s.Details, want.details) {
		t.Errorf("%s: details %q do not contain %q", b, s.Details, want.details)
	}
}

func TestDetectMachineFacts(t *testing.T) {
	r := Detect(t.Context(), FSProbe{FS: snpGuestTSM})
	want := Machine{
		CPUVendor:       "AuthenticAMD",
		CPUFlags:        []string{"hypervisor", "sev", "sev_es", "sev_snp"},
		SEVGuestDevice:  true,
		ConfigfsMounted: true,
		TSMReport:       true,
		TSMProviders:    []string{"sev_guest"},
	}
	if !reflect.DeepEqual(r.Machine, want) {
		t.Errorf("machine = %+v\nwant      %+v", r.Machine, want)
	}

	r = Detect(t.Context(), FSProbe{FS: plainVM})
	want = Machine{CPUVendor: "AuthenticAMD", CPUFlags: []string{"hypervisor"}, TSMProviders: []string{}}
	if !reflect.DeepEqual(r.Machine, want) {
		t.Errorf("machine = %+v\nwant      %+v", r.Machine, want)
	}
}

// failingProbe fails reads of chosen paths with a non-"absent" error.
type failingProbe struct {
	Probe
	fail map[string]error
}

func (p failingProbe) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err, ok := p.fail[name]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return p.Probe.ReadFile(ctx, name)
}

func TestDetectUnreadableInputs(t *testing.T) {
	probe := failingProbe{Probe: FSProbe{FS: snpHost}, fail: map[string]error{
		"/proc/cpuinfo": fs.ErrPermission,
		"/proc/mounts":  errors.New("input/output error"),
	}}
	r := Detect(t.Context(), probe)
	checkShape(t, r)
	wantProblems := []string{
		"cannot read /proc/cpuinfo: permission denied",
		"cannot read /proc/mounts: input/output error",
	}
	if !slices.Equal(r.Machine.Problems, wantProblems) {
		t.Errorf("problems = %q, want %q", r.Machine.Problems, wantProblems)
	}
	for _, b := range []Backend{SNP, TDX} {
		s, _ := r.Status(b)
		if s.Available || !strings.Contains(s.Details, "cannot read /proc/cpuinfo (permission denied)") {
			t.Errorf("%s: %+v", b, s)
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "note: cannot read /proc/cpuinfo: permission denied\n") {
		t.Errorf("text lacks the problem note:\n%s", text.String())
	}

	// A device is still authoritative when cpuinfo cannot be read.
	probe.Probe = FSProbe{FS: snpGuestTSM}
	if r := Detect(t.Context(), probe); r.Best() != SNP {
		t.Errorf("SNP guest with unreadable cpuinfo: Best() = %q, want snp", r.Best())
	}
}

func TestDetectCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := Detect(ctx, FSProbe{FS: snpGuestTSM})
	checkShape(t, r)
	if r.Best() != Nil {
		t.Errorf("Best() = %q after cancellation, want nil", r.Best())
	}
	if len(r.Machine.Problems) == 0 || !strings.Contains(r.Machine.Problems[0], context.Canceled.Error()) {
		t.Errorf("problems = %q, want a context canceled entry", r.Machine.Problems)
	}
}

func TestDetectOddProvider(t *testing.T) {
	m := fstest.MapFS{
		"proc/cpuinfo": cpuinfo("AuthenticAMD", "hypervisor"),
		"proc/mounts":  mountsOn,
		"sys/kernel/config/tsm/report/a/provider": provider("evil\tprovider\x1b[31m"),
		"sys/kernel/config/tsm/report/b/provider": provider(strings.Repeat("x", 500)),
		"sys/kernel/config/tsm/report/c":          dir, // no provider file
	}
	r := Detect(t.Context(), FSProbe{FS: m})
	checkShape(t, r)
	if r.Best() != Nil {
		t.Errorf("Best() = %q, want nil", r.Best())
	}
	for _, p := range r.Machine.TSMProviders {
		if len(p) > 3*maxProviderSize || strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Errorf("provider %q not sanitized", p)
		}
	}
	if len(r.Machine.TSMProviders) != 2 {
		t.Errorf("providers = %q, want 2", r.Machine.TSMProviders)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(text.String(), "\n"); lines != 6 {
		t.Errorf("text has %d lines, want 6 (header, 4 backends, auto):\n%s", lines, text.String())
	}
}

// TestRealProbeAtDirectory runs detection on a machine laid out in a
// temporary directory and expects the same report as from the MapFS.
func TestRealProbeAtDirectory(t *testing.T) {
	for name, m := range map[string]fstest.MapFS{"snp guest": snpGuestTSM, "tdx guest": tdxGuest, "snp host": snpHost} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for p, f := range m {
				full := filepath.Join(root, filepath.FromSlash(p))
				if f.Mode.IsDir() {
					if err := os.MkdirAll(full, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, f.Data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got := Detect(t.Context(), RealProbeAt(root))
			want := Detect(t.Context(), FSProbe{FS: m})
			if !reflect.DeepEqual(got, want) {
				t.Errorf("directory report = %+v\nMapFS report     = %+v", got, want)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	probe := failingProbe{Probe: FSProbe{FS: tdxGuest}, fail: map[string]error{"/proc/mounts": fs.ErrPermission}}
	for name, r := range map[string]Report{
		"plain VM":         Detect(t.Context(), FSProbe{FS: plainVM}),
		"SNP guest":        Detect(t.Context(), FSProbe{FS: snpGuestTSM}),
		"SNP old kernel":   Detect(t.Context(), FSProbe{FS: snpGuestOldKernel}),
		"TDX with problem": Detect(t.Context(), probe),
		"SNP host":         Detect(t.Context(), FSProbe{FS: snpHost}),
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := r.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatalf("unmarshal: %v\n%s", err, buf.String())
			}
			if !reflect.DeepEqual(back, r) {
				t.Errorf("round trip changed the report:\n got %+v\nwant %+v", back, r)
			}

			// The documented field names, exactly.
			var raw struct {
				Best     Backend          `json:"best"`
				Backends []map[string]any `json:"backends"`
				Machine  map[string]any   `json:"machine"`
			}
			if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(buf.Bytes(), &top); err != nil {
				t.Fatal(err)
			}
			if keys := sortedKeys(top); !slices.Equal(keys, []string{"backends", "best", "machine"}) {
				t.Errorf("top-level keys = %q", keys)
			}
			if raw.Best != r.Best() {
				t.Errorf("best = %q, want %q", raw.Best, r.Best())
			}
			for _, b := range raw.Backends {
				want := []string{"available", "backend", "details", "implemented"}
				if b["available"] == true && b["backend"] != string(Nil) {
					want = []string{"available", "backend", "details", "implemented", "interface"}
				}
				if keys := sortedKeys(b); !slices.Equal(keys, want) {
					t.Errorf("backend keys = %q, want %q", keys, want)
				}
			}
			machineKeys := []string{"configfs_mounted", "cpu_flags", "cpu_vendor", "sev_guest_device", "tdx_guest_device", "tsm_providers", "tsm_report"}
			if len(r.Machine.Problems) > 0 {
				machineKeys = append(machineKeys, "problems")
				slices.Sort(machineKeys)
			}
			if keys := sortedKeys(raw.Machine); !slices.Equal(keys, machineKeys) {
				t.Errorf("machine keys = %q, want %q", keys, machineKeys)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestBest(t *testing.T) {
	status := func(b Backend, available, implemented bool) Status {
		return Status{Backend: b, Available: available, Implemented: implemented, Details: "x"}
	}
	tests := []struct {
		name string
		r    Report
		want Backend
	}{
		{"empty report", Report{}, Nil},
		{"only nil", Report{Backends: []Status{status(Nil, true, true), status(SNP, false, true), status(TDX, false, true)}}, Nil},
		{"snp", Report{Backends: []Status{status(Nil, true, true), status(SNP, true, true), status(TDX, false, true)}}, SNP},
		{"tdx", Report{Backends: []Status{status(Nil, true, true), status(SNP, false, true), status(TDX, true, true)}}, TDX},
		{"both prefer snp", Report{Backends: []Status{status(TDX, true, true), status(SNP, true, true)}}, SNP},
		{"unimplemented is skipped", Report{Backends: []Status{status(SNP, true, false), status(TDX, true, true)}}, TDX},
		{"sgx never", Report{Backends: []Status{status(Nil, true, true), status(SGX, true, true)}}, Nil},
	}
	for _, tt := range tests {
		if got := tt.r.Best(); got != tt.want {
			t.Errorf("%s: Best() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseBackend(t *testing.T) {
	for _, b := range Backends() {
		got, err := ParseBackend(string(b))
		if err != nil || got != b {
			t.Errorf("ParseBackend(%q) = %q, %v", b, got, err)
		}
	}
	for _, bad := range []string{"", "auto", "SNP", "kvm"} {
		_, err := ParseBackend(bad)
		if err == nil || !strings.Contains(err.Error(), "use one of nil, snp, tdx, sgx") {
			t.Errorf("ParseBackend(%q) error = %v", bad, err)
		}
	}
}

func TestWriteText(t *testing.T) {
	r := Detect(t.Context(), FSProbe{FS: snpGuestTSM})
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	if f := strings.Fields(lines[0]); !slices.Equal(f, []string{"BACKEND", "AVAILABLE", "DETAILS"}) {
		t.Errorf("header = %q", lines[0])
	}
	// Columns line up: details start at the same offset on every row.
	col := strings.Index(lines[0], "DETAILS")
	for i, b := range Backends() {
		s, _ := r.Status(b)
		avail := map[bool]string{true: "yes", false: "no"}[s.Available]
		f := strings.Fields(lines[i+1])
		if f[0] != string(b) || f[1] != avail {
			t.Errorf("row %d = %q, want backend %s available %s", i+1, lines[i+1], b, avail)
		}
		if lines[i+1][col:] != s.Details {
			t.Errorf("row %d details %q, want %q", i+1, lines[i+1][col:], s.Details)
		}
	}
	if lines[5] != "auto: snp" {
		t.Errorf("last line = %q, want %q", lines[5], "auto: snp")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	r := Detect(t.Context(), FSProbe{FS: plainVM})
	if err := r.WriteText(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteText error = %v", err)
	}
	if err := r.WriteJSON(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteJSON error = %v", err)
	}
}

// TestRealMachine runs detection on the machine running the tests. It
// asserts only what holds anywhere, cross-checked with os.Stat, and logs
// the report (on the development machines: nil only).
func TestRealMachine(t *testing.T) {
	r := Detect(t.Context(), RealProbe())
	checkShape(t, r)
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	t.Logf("platform info on this machine:\n%s\n%s", text.String(), js.String())

	_, tsmErr := os.Stat("/sys/kernel/config/tsm/report")
	for b, dev := range map[Backend]string{SNP: "/dev/sev-guest", TDX: "/dev/tdx_guest"} {
		s, _ := r.Status(b)
		_, devErr := os.Stat(dev)
		if errors.Is(devErr, fs.ErrNotExist) && errors.Is(tsmErr, fs.ErrNotExist) && s.Available {
			t.Errorf("%s reported available without %s or configfs-tsm: %+v", b, dev, s)
		}
		if !s.Available && !strings.Contains(text.String(), s.Details) {
			t.Errorf("text output does not say why %s is unavailable (%q):\n%s", b, s.Details, text.String())
		}
	}
	if best := r.Best(); !strings.Contains(text.String(), "auto: "+string(best)+"\n") {
		t.Errorf("text output does not name the auto backend %q", best)
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	f.Add(cpuinfo("AuthenticAMD", "hypervisor", "sev_snp").Data)
	f.Add(cpuinfo("GenuineIntel", "tdx_guest").Data)
	f.Add([]byte("flags:\nvendor_id:\n"))
	f.Add([]byte("processor : 0\nFeatures : fp asimd\n"))
	f.Add([]byte(":::\n\x00flags : a b c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vendor, flags := parseCPUInfo(data)
		if strings.ContainsAny(vendor, "\n") {
			t.Errorf("vendor %q spans lines", vendor)
		}
		for fl := range flags {
			if fl == "" || strings.ContainsFunc(fl, unicode.IsSpace) || !bytes.Contains(data, []byte(fl)) {
				t.Errorf("flag %q is not a word of the input", fl)
			}
		}
	})
}

func FuzzCleanProvider(f *testing.F) {
	for _, s := range []string{"sev_guest\n", "tdx_guest", "", " \t\n", "a\x00b", "\xff\xfe", strings.Repeat("é", 100)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := cleanProvider(data)
		if strings.ContainsFunc(p, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) {
			t.Errorf("cleanProvider(%q) = %q has non-printable or non-ASCII runes", data, p)
		}
		if len(p) > 4*maxProviderSize+2 {
			t.Errorf("cleanProvider(%q) = %q is too long", data, p)
		}
	})
}
