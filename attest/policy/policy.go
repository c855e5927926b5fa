// Package policy is the appraisal policy that a steward applies before it
// certifies a keep and that a relying party applies to the claims it
// verified: which platforms, debug mode, workloads, TCB levels and launch
// measurements are acceptable, and how long a steward's certificate lives.
//
// A policy is written in TOML (see docs/policy.md) and read with Parse, or
// is the built-in Default. Check appraises claims that a verifier already
// established; it never looks at evidence itself.
package policy

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"donjon.dev/attest"
)

// Certificate lifetimes a policy may ask for.
const (
	DefaultLifetime = 4 * time.Hour
	MinLifetime     = 5 * time.Minute
	MaxLifetime     = 7 * 24 * time.Hour
)

// Policy is a parsed appraisal policy. Parse and Default return valid
// policies; one built or changed in code is applied as written (an empty
// Platforms accepts nothing, Workload.AnyModule false with no Modules accepts
// no workload).
type Policy struct {
	// Name says where the policy came from (a file name, "default"), for logs.
	Name string
	// Platforms are the accepted backends. attest.PlatformNil must be listed
	// explicitly for the insecure development backend to be accepted.
	Platforms []attest.Platform
	// AllowDebug accepts TEEs in debug mode, whose host can read and change
	// the keep.
	AllowDebug bool
	Workload   Workload
	SNP        SNP
	TDX        TDX
	SGX        SGX
	// CertificateLifetime is the lifetime of a steward's certificates; zero
	// means DefaultLifetime. See Lifetime.
	CertificateLifetime time.Duration
	// CertificateNames are the DNS names and IP addresses a steward may put
	// in a keep's certificate when the keep asks for them: exact names, IP
	// addresses, or "*.example.com" for any one label under example.com.
	// Empty grants none: a keep asking for a name is refused, since a
	// certificate for a name lets the keep pass for that server with every
	// client that trusts the steward.
	CertificateNames []string
}

// Workload says which wasm modules and configs are acceptable.
type Workload struct {
	// Modules are the SHA-256 digests of the allowed wasm modules.
	Modules [][32]byte
	// AnyModule accepts any module, including none at all (an Enarx keep
	// binds no workload). Parse makes it exclusive with Modules.
	AnyModule bool
	// Configs are the SHA-256 digests of the allowed Donjon.toml files;
	// empty accepts any config.
	Configs [][32]byte
	// AllowPlaintext accepts workloads with a plain TCP socket or a plain
	// host directory (attest.Claims.Plaintext).
	AllowPlaintext bool
}

// SNP holds the rules that apply to AMD SEV-SNP claims only.
type SNP struct {
	// MinTCB is the per-component minimum of the REPORTED_TCB; all zero
	// accepts any TCB.
	MinTCB SNPTCB
	// Measurements are the allowed launch measurements; empty accepts any.
	Measurements [][48]byte
}

// SNPTCB holds the security version numbers of an SEV-SNP TCB_VERSION. FMC
// exists on Turin only; for other products its minimum does not apply.
type SNPTCB struct {
	Bootloader, TEE, SNP, Microcode, FMC uint8
}

func (t SNPTCB) isZero() bool { return t == SNPTCB{} }

func (t SNPTCB) String() string {
	return fmt.Sprintf("bootloader=%d tee=%d snp=%d microcode=%d fmc=%d", t.Bootloader, t.TEE, t.SNP, t.Microcode, t.FMC)
}

// TDX holds the rules that apply to Intel TDX claims only.
type TDX struct {
	// MinTEETCBSVN is the per-byte minimum of TEE_TCB_SVN; all zero accepts
	// any.
	MinTEETCBSVN [16]byte
	// MRTDs are the allowed MRTD values; empty accepts any.
	MRTDs [][48]byte
}

// SGX holds the rules that apply to Intel SGX claims (Enarx keeps) only.
type SGX struct {
	// MRENCLAVEs are the allowed enclave measurements; empty accepts any.
	MRENCLAVEs [][32]byte
	// TCBStatus lists the Intel TCB statuses accepted (sgx.StatusUpToDate,
	// ...). The status is appraised while the quote is verified, so a
	// verifier passes this list to attest.VerifyOptions.SGXTCBStatus; nil
	// accepts only UpToDate.
	TCBStatus []string
}

// Default is the policy `donjon verify` applies without --policy: SNP or
// TDX, not in debug mode, any workload, any measurement, any TCB.
func Default() *Policy {
	return &Policy{
		Name:                "default",
		Platforms:           []attest.Platform{attest.PlatformSNP, attest.PlatformTDX},
		Workload:            Workload{AnyModule: true},
		CertificateLifetime: DefaultLifetime,
	}
}

// Lifetime is the lifetime of the certificates a steward issues under p:
// DefaultLifetime when unset, and never outside [MinLifetime, MaxLifetime]
// even for a policy built in code.
func (p *Policy) Lifetime() time.Duration {
	if p == nil || p.CertificateLifetime == 0 {
		return DefaultLifetime
	}
	return min(max(p.CertificateLifetime, MinLifetime), MaxLifetime)
}

func (p *Policy) allows(pl attest.Platform) bool {
	return slices.Contains(p.Platforms, pl)
}

// Summary describes p in a few lines for logs and help texts.
func (p *Policy) Summary() []string {
	if p == nil {
		return []string{"no policy: everything is rejected"}
	}
	var lines []string
	names := make([]string, len(p.Platforms))
	for i, pl := range p.Platforms {
		names[i] = pl.String()
	}
	debug := "debug mode rejected"
	if p.AllowDebug {
		debug = "debug mode ACCEPTED"
	}
	lines = append(lines, fmt.Sprintf("policy %s: platforms %s; %s", p.Name, strings.Join(names, ", "), debug))
	if p.allows(attest.PlatformNil) {
		lines = append(lines, "WARNING: accepts the insecure nil backend (no TEE, development only)")
	}

	var w string
	switch {
	case p.Workload.AnyModule:
		w = "any module"
	default:
		w = count(len(p.Workload.Modules), "allowed module")
	}
	if len(p.Workload.Configs) == 0 {
		w += ", any config"
	} else {
		w += ", " + count(len(p.Workload.Configs), "allowed config")
	}
	lines = append(lines, "workload: "+w)

	if p.allows(attest.PlatformSNP) {
		s := "snp: minimum TCB "
		if p.SNP.MinTCB.isZero() {
			s += "none"
		} else {
			s += p.SNP.MinTCB.String()
		}
		lines = append(lines, s+", "+anyOr(len(p.SNP.Measurements), "launch measurement"))
	}
	if p.allows(attest.PlatformTDX) {
		s := "tdx: minimum TEE_TCB_SVN "
		if p.TDX.MinTEETCBSVN == [16]byte{} {
			s += "none"
		} else {
			s += hex.EncodeToString(p.TDX.MinTEETCBSVN[:])
		}
		lines = append(lines, s+", "+anyOr(len(p.TDX.MRTDs), "MRTD"))
	}
	lines = append(lines, "certificate lifetime: "+p.Lifetime().String())
	if len(p.CertificateNames) > 0 {
		lines = append(lines, "certificate names: "+strings.Join(p.CertificateNames, ", "))
	}
	return lines
}

// count writes "1 allowed module", "3 allowed modules".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func anyOr(n int, noun string) string {
	if n == 0 {
		return "any " + noun
	}
	return count(n, "allowed "+noun)
}
