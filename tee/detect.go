// Package tee holds donjon's trusted-execution backends (nil, snp, tdx) and
// detects which of them the machine it runs on supports.
package tee

// Detection answers "which backends can this machine run, and if not, why
// not?" for `donjon platform info` and `--backend auto`. It only looks: it
// reads /proc, /dev and configfs through a Probe and never creates report
// entries or opens a device, so it is safe to run anywhere and as any user.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Backend names a TEE technology under a keep.
type Backend string

// The backends donjon knows about, weakest first.
const (
	// Nil isolates nothing and attests nothing; it exists for development.
	Nil Backend = "nil"
	// SNP is an AMD SEV-SNP guest VM.
	SNP Backend = "snp"
	// TDX is an Intel TDX guest VM (a trust domain, "TD").
	TDX Backend = "tdx"
	// SGX is Intel SGX. It is not implemented yet; it is listed so that
	// users asking for it get a clear answer.
	SGX Backend = "sgx"
)

// Backends lists every backend in the order reports show them.
func Backends() []Backend { return []Backend{Nil, SNP, TDX, SGX} }

// ParseBackend checks that name is a known backend name. "auto" is not a
// backend: callers resolve it with Report.Best.
func ParseBackend(name string) (Backend, error) {
	b := Backend(name)
	if slices.Contains(Backends(), b) {
		return b, nil
	}
	return "", fmt.Errorf("unknown backend %q: use one of nil, snp, tdx, sgx (or auto)", name)
}

// Ways a backend reaches the hardware. Recorded so that users (and the
// backends added later) know which kernel interface detection relied on.
const (
	InterfaceConfigfsTSM = "configfs-tsm"
	InterfaceSEVGuest    = "/dev/sev-guest"
)

// The paths detection reads, as seen from the probe's root.
const (
	pathCPUInfo   = "/proc/cpuinfo"
	pathMounts    = "/proc/mounts"
	pathSEVGuest  = "/dev/sev-guest"
	pathTDXGuest  = "/dev/tdx_guest"
	pathConfigfs  = "/sys/kernel/config"
	pathTSMReport = "/sys/kernel/config/tsm/report"
)

const (
	nilDescription = "development only: no isolation, no attestation, nothing is protected"
	sgxDescription = "not implemented: donjon has no SGX backend yet; use snp or tdx"
	// maxProviderSize bounds what a provider file can put in a report.
	maxProviderSize = 64
)

// tsm providers as the kernel names them in report/<entry>/provider.
const (
	providerSEV = "sev_guest"
	providerTDX = "tdx_guest"
)

// cpuFlagsOfInterest are the /proc/cpuinfo flags detection looks at; only
// these are kept in Machine.CPUFlags so reports stay short and stable.
var cpuFlagsOfInterest = []string{
	"hypervisor", "sev", "sev_es", "sev_snp", "tdx_guest", "tdx_host_platform", "sgx",
}

// Probe reads the machine facts detection depends on. Paths are absolute
// ("/proc/cpuinfo"); an implementation may serve them from a fake tree.
// Errors satisfying errors.Is(err, fs.ErrNotExist) mean "absent"; any other
// error is reported as a problem reading that path.
type Probe interface {
	ReadFile(ctx context.Context, name string) ([]byte, error)
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error)
}

// FSProbe is a Probe over a file system whose root stands for "/". Tests
// give it a testing/fstest.MapFS; RealProbe gives it the real root.
type FSProbe struct {
	FS fs.FS
}

// RealProbe reads this machine's real /proc, /dev and /sys.
func RealProbe() FSProbe { return RealProbeAt("/") }

// RealProbeAt reads a directory tree laid out like a machine's root, e.g. a
// test's temporary directory holding proc/cpuinfo and dev/sev-guest.
func RealProbeAt(root string) FSProbe { return FSProbe{FS: os.DirFS(root)} }

// ReadFile implements Probe.
func (p FSProbe) ReadFile(ctx context.Context, name string) ([]byte, error) {
	rel, err := p.rel(ctx, name)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(p.FS, rel)
}

// Stat implements Probe.
func (p FSProbe) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	rel, err := p.rel(ctx, name)
	if err != nil {
		return nil, err
	}
	return fs.Stat(p.FS, rel)
}

// ReadDir implements Probe.
func (p FSProbe) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	rel, err := p.rel(ctx, name)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(p.FS, rel)
}

// rel turns "/proc/cpuinfo" into the fs.FS name "proc/cpuinfo".
func (p FSProbe) rel(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("probe %s: %w", name, err)
	}
	rel := strings.TrimPrefix(name, "/")
	if rel == "" {
		rel = "."
	}
	if !fs.ValidPath(rel) {
		return "", &fs.PathError{Op: "probe", Path: name, Err: fs.ErrInvalid}
	}
	return rel, nil
}

// Report is what detection found. Its JSON form is stable (see WriteJSON).
type Report struct {
	// Backends has one entry per known backend, in Backends() order.
	Backends []Status `json:"backends"`
	// Machine is the evidence the verdicts were drawn from.
	Machine Machine `json:"machine"`
}

// Status is one backend's verdict on this machine.
type Status struct {
	Backend Backend `json:"backend"`
	// Implemented is false for backends donjon lists but cannot run yet.
	Implemented bool `json:"implemented"`
	Available   bool `json:"available"`
	// Interface is the kernel interface the backend would use, when
	// available: InterfaceConfigfsTSM or InterfaceSEVGuest.
	Interface string `json:"interface,omitempty"`
	// Details is one line: what was found if available, otherwise why not
	// and what to do about it.
	Details string `json:"details"`
}

// Machine records the facts read from the probe.
type Machine struct {
	// CPUVendor is vendor_id from /proc/cpuinfo ("AuthenticAMD",
	// "GenuineIntel"), empty if unknown.
	CPUVendor string `json:"cpu_vendor"`
	// CPUFlags are the TEE-related flags present in /proc/cpuinfo, in a
	// fixed order: hypervisor, sev, sev_es, sev_snp, tdx_guest,
	// tdx_host_platform, sgx.
	CPUFlags []string `json:"cpu_flags"`
	// SEVGuestDevice and TDXGuestDevice: /dev/sev-guest, /dev/tdx_guest exist.
	SEVGuestDevice bool `json:"sev_guest_device"`
	TDXGuestDevice bool `json:"tdx_guest_device"`
	// ConfigfsMounted: configfs is mounted at /sys/kernel/config.
	ConfigfsMounted bool `json:"configfs_mounted"`
	// TSMReport: /sys/kernel/config/tsm/report exists (configfs-tsm).
	TSMReport bool `json:"tsm_report"`
	// TSMProviders are the providers named by existing report entries,
	// sorted; empty when no entry exists (detection never creates one).
	TSMProviders []string `json:"tsm_providers"`
	// Problems lists inputs that exist but could not be read, one line each.
	Problems []string `json:"problems,omitempty"`
}

// HasFlag reports whether /proc/cpuinfo listed flag (one of the flags of
// interest).
func (m Machine) HasFlag(flag string) bool { return slices.Contains(m.CPUFlags, flag) }

func (m Machine) hasProvider(p string) bool { return slices.Contains(m.TSMProviders, p) }

// Status returns the verdict for b, or false if the report has none.
func (r Report) Status(b Backend) (Status, bool) {
	for _, s := range r.Backends {
		if s.Backend == b {
			return s, true
		}
	}
	return Status{}, false
}

// Best is the strongest available backend, what `--backend auto` runs on:
// a hardware TEE (snp, then tdx) if one is available, else Nil, which is
// always available.
func (r Report) Best() Backend {
	for _, b := range []Backend{SNP, TDX} {
		if s, ok := r.Status(b); ok && s.Available && s.Implemented {
			return b
		}
	}
	return Nil
}

// facts is Machine plus what the verdicts need but reports do not carry.
type facts struct {
	Machine
	cpuinfoErr     error // nil when /proc/cpuinfo was read
	configfsExists bool  // the kernel has configfs (its mount point exists)
}

// Detect reads the machine through probe and judges every backend. It does
// not fail: unreadable inputs become Machine.Problems and, where they
// matter, part of a backend's details.
func Detect(ctx context.Context, probe Probe) Report {
	f := gather(ctx, probe)
	return Report{
		Backends: []Status{
			{Backend: Nil, Implemented: true, Available: true, Details: nilDescription},
			judgeSNP(f),
			judgeTDX(f),
			{Backend: SGX, Details: sgxDescription},
		},
		Machine: f.Machine,
	}
}

func gather(ctx context.Context, probe Probe) facts {
	var f facts
	f.CPUFlags = []string{}
	f.TSMProviders = []string{}
	problem := func(name string, err error) {
		f.Problems = append(f.Problems, fmt.Sprintf("cannot read %s: %v", name, bare(err)))
	}
	// exists treats "absent" as a normal answer and anything else as a problem.
	exists := func(name string) bool {
		_, err := probe.Stat(ctx, name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			problem(name, err)
		}
		return err == nil
	}

	if data, err := probe.ReadFile(ctx, pathCPUInfo); err != nil {
		f.cpuinfoErr = err
		problem(pathCPUInfo, err)
	} else {
		vendor, flags := parseCPUInfo(data)
		f.CPUVendor = vendor
		for _, fl := range cpuFlagsOfInterest {
			if flags[fl] {
				f.CPUFlags = append(f.CPUFlags, fl)
			}
		}
	}

	f.SEVGuestDevice = exists(pathSEVGuest)
	f.TDXGuestDevice = exists(pathTDXGuest)
	f.configfsExists = exists(pathConfigfs)

	if data, err := probe.ReadFile(ctx, pathMounts); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			problem(pathMounts, err)
		}
	} else {
		f.ConfigfsMounted = configfsMountedAt(data, pathConfigfs)
	}

	entries, err := probe.ReadDir(ctx, pathTSMReport)
	switch {
	case err == nil:
		f.TSMReport = true
		// The report directory lives in configfs, so it proves the mount
		// even when /proc/mounts could not be read.
		f.ConfigfsMounted = true
		f.configfsExists = true
	case !errors.Is(err, fs.ErrNotExist):
		problem(pathTSMReport, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := path.Join(pathTSMReport, e.Name(), "provider")
		data, err := probe.ReadFile(ctx, name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				problem(name, err)
			}
			continue
		}
		if p := cleanProvider(data); p != "" && !f.hasProvider(p) {
			f.TSMProviders = append(f.TSMProviders, p)
		}
	}
	slices.Sort(f.TSMProviders)
	return f
}

// bare drops the path a *fs.PathError repeats, since messages here already
// name the absolute path and the fs.FS one is relative to the probe root.
func bare(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// parseCPUInfo returns vendor_id and the flags of the first processor
// block. Every processor lists the same flags, so the first is enough.
func parseCPUInfo(data []byte) (vendor string, flags map[string]bool) {
	flags = map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	gotVendor, gotFlags := false, false
	for !(gotVendor && gotFlags) && sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "vendor_id":
			if !gotVendor {
				vendor = strings.TrimSpace(value)
				gotVendor = true
			}
		case "flags":
			if !gotFlags {
				for _, fl := range strings.Fields(value) {
					flags[fl] = true
				}
				gotFlags = true
			}
		}
	}
	// A line longer than the buffer stops the scan; what was read so far
	// is still the best answer there is.
	return vendor, flags
}

// configfsMountedAt reports whether /proc/mounts data has a configfs mount
// on mountPoint.
func configfsMountedAt(data []byte, mountPoint string) bool {
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) >= 3 && fields[1] == mountPoint && fields[2] == "configfs" {
			return true
		}
	}
	return false
}

// cleanProvider trims a provider file's content and quotes anything that is
// not a plain identifier, so a strange tree cannot break the one-line table.
func cleanProvider(data []byte) string {
	p := strings.TrimSpace(string(data))
	if len(p) > maxProviderSize {
		p = p[:maxProviderSize]
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.QuoteToASCII(p)
		}
	}
	return p
}

func judgeSNP(f facts) Status {
	s := Status{Backend: SNP, Implemented: true}
	available := func(iface, details string) Status {
		s.Available, s.Interface, s.Details = true, iface, details
		return s
	}
	unavailable := func(details string) Status {
		s.Details = details
		return s
	}
	otherProviderOnly := len(f.TSMProviders) > 0 && !f.hasProvider(providerSEV)

	switch {
	case f.hasProvider(providerSEV):
		return available(InterfaceConfigfsTSM, "SEV-SNP guest: reports via configfs-tsm (provider sev_guest)")
	case f.SEVGuestDevice && f.TSMReport && !otherProviderOnly:
		// The sev-guest driver registers with configfs-tsm whenever the
		// kernel has it; no entry exists yet to show the provider.
		return available(InterfaceConfigfsTSM, "SEV-SNP guest: /dev/sev-guest present, reports via configfs-tsm")
	case f.SEVGuestDevice:
		return available(InterfaceSEVGuest, "SEV-SNP guest: reports via the /dev/sev-guest ioctl ("+f.whyNoTSM()+")")
	case f.cpuinfoErr != nil:
		return unavailable(fmt.Sprintf("no /dev/sev-guest and cannot read %s (%v): run donjon inside an SNP guest VM", pathCPUInfo, bare(f.cpuinfoErr)))
	}

	hypervisor := f.HasFlag("hypervisor")
	sevOnly := f.HasFlag("sev") || f.HasFlag("sev_es")
	switch {
	case f.HasFlag("sev_snp") && !hypervisor:
		return unavailable("this is an SEV-SNP host, not a guest: run donjon inside an SNP guest VM")
	case f.HasFlag("sev_snp"):
		return unavailable("SEV-SNP guest without /dev/sev-guest: load the sev-guest driver (modprobe sev-guest) or boot a kernel with CONFIG_SEV_GUEST")
	case sevOnly && !hypervisor:
		return unavailable("this is an AMD SEV host without SEV-SNP, not a guest: enable SEV-SNP and run donjon inside an SNP guest VM")
	case sevOnly:
		return unavailable("this VM runs SEV or SEV-ES, not SEV-SNP, which donjon needs for attestation reports: relaunch it as an SEV-SNP guest")
	case f.HasFlag("tdx_guest") || f.TDXGuestDevice || f.hasProvider(providerTDX):
		return unavailable("this is an Intel TDX guest, not an SEV-SNP guest: use the tdx backend")
	case f.CPUVendor == "GenuineIntel":
		return unavailable("Intel CPU: SEV-SNP needs an AMD EPYC host (3rd generation or newer); on Intel use tdx")
	case f.CPUVendor == "AuthenticAMD" && hypervisor:
		return unavailable("not an SEV-SNP guest (no sev_snp cpu flag, no /dev/sev-guest): run donjon in a VM launched with SEV-SNP")
	case f.CPUVendor == "AuthenticAMD":
		return unavailable("bare-metal AMD machine without SEV-SNP: run donjon inside an SNP guest VM")
	default:
		return unavailable("not an SEV-SNP guest (no sev_snp cpu flag, no /dev/sev-guest): run donjon inside an SNP guest VM on an AMD EPYC host")
	}
}

func judgeTDX(f facts) Status {
	s := Status{Backend: TDX, Implemented: true}
	available := func(details string) Status {
		s.Available, s.Interface, s.Details = true, InterfaceConfigfsTSM, details
		return s
	}
	unavailable := func(details string) Status {
		s.Details = details
		return s
	}
	otherProviderOnly := len(f.TSMProviders) > 0 && !f.hasProvider(providerTDX)

	switch {
	case f.hasProvider(providerTDX):
		return available("TDX guest: quotes via configfs-tsm (provider tdx_guest)")
	case f.TDXGuestDevice && f.TSMReport && !otherProviderOnly:
		return available("TDX guest: /dev/tdx_guest present, quotes via configfs-tsm")
	case f.TDXGuestDevice:
		// Upstream /dev/tdx_guest only yields a TDREPORT, which nobody
		// outside the TD can verify; quotes come from configfs-tsm.
		return unavailable("TDX guest, but quotes need configfs-tsm (" + f.whyNoTSM() + ")")
	case f.cpuinfoErr != nil:
		return unavailable(fmt.Sprintf("no /dev/tdx_guest and cannot read %s (%v): run donjon inside a TDX guest (TD)", pathCPUInfo, bare(f.cpuinfoErr)))
	}

	hypervisor := f.HasFlag("hypervisor")
	switch {
	case f.HasFlag("tdx_guest"):
		return unavailable("TDX guest without /dev/tdx_guest: load the tdx-guest driver (modprobe tdx-guest) or boot a kernel with CONFIG_TDX_GUEST_DRIVER")
	case f.HasFlag("tdx_host_platform"):
		return unavailable("this is a TDX host, not a guest: run donjon inside a TDX guest (TD)")
	case f.HasFlag("sev_snp") && hypervisor || f.SEVGuestDevice || f.hasProvider(providerSEV):
		return unavailable("this is an AMD SEV-SNP guest, not a TDX guest: use the snp backend")
	case f.CPUVendor == "AuthenticAMD":
		return unavailable("AMD CPU: TDX needs an Intel Xeon host (4th generation or newer); on AMD use snp")
	case f.CPUVendor == "GenuineIntel" && hypervisor:
		return unavailable("not a TDX guest (no tdx_guest cpu flag, no /dev/tdx_guest): run donjon in a VM launched as a TDX guest (TD)")
	case f.CPUVendor == "GenuineIntel":
		return unavailable("bare-metal Intel machine, not a TDX guest: run donjon inside a TDX guest (TD)")
	default:
		return unavailable("not a TDX guest (no tdx_guest cpu flag, no /dev/tdx_guest): run donjon inside a TD on an Intel Xeon host")
	}
}

// whyNoTSM says, with the fix, why configfs-tsm cannot be used here.
func (f facts) whyNoTSM() string {
	switch {
	case len(f.TSMProviders) > 0:
		return "configfs-tsm serves provider " + strings.Join(f.TSMProviders, ", ") + " only"
	case !f.configfsExists:
		return "the kernel has no configfs: boot Linux 6.7 or newer with CONFIG_CONFIGFS_FS and CONFIG_TSM_REPORTS"
	case !f.ConfigfsMounted:
		return "configfs is not mounted: mount -t configfs none " + pathConfigfs
	default:
		return "no " + pathTSMReport + ": boot Linux 6.7 or newer with CONFIG_TSM_REPORTS"
	}
}
