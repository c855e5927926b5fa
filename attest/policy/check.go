package policy

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"donjon.dev/attest"
	"donjon.dev/attest/snp"
)

// Rule names. They are stable: they appear in messages, in a steward's 403
// answers and in metrics labels.
const (
	RulePlatform        = "platform"
	RuleInsecure        = "insecure"
	RuleDebug           = "debug"
	RuleModules         = "workload.modules"
	RuleConfigs         = "workload.configs"
	RulePlaintext       = "workload.plaintext"
	RuleSNPMinTCB       = "snp.min_tcb"
	RuleSNPMeasurements = "snp.measurements"
	RuleTDXMinTCBSVN    = "tdx.min_tee_tcb_svn"
	RuleTDXMRTD         = "tdx.mrtd"
	RuleSGXMRENCLAVE    = "sgx.mrenclave"
	// RuleSGXTCBStatus is applied while the quote is verified (the status
	// is not part of the claims): see SGX.TCBStatus.
	RuleSGXTCBStatus = "sgx.tcb_status"
)

// Rules returns every rule name in the order Check applies them.
func Rules() []string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.name
	}
	return names
}

// ErrViolation is matched (errors.Is) by every *Violation.
var ErrViolation = errors.New("policy: claims violate the policy")

// Violation is a rule that the claims break.
type Violation struct {
	Rule   string // one of the Rule* names
	Reason string // one line: the offending value, what the policy allows, what to do
}

func (v *Violation) Error() string { return "policy: " + v.Rule + ": " + v.Reason }

// Is makes errors.Is(v, ErrViolation) true.
func (v *Violation) Is(target error) bool { return target == ErrViolation }

// rule is one check: it returns "" when c passes, else the reason.
type rule struct {
	name  string
	check func(p *Policy, c *attest.Claims) string
}

// rules is the fixed order in which violations are reported. The platform
// comes first because nothing else means much on a platform that is not
// trusted; the workload comes before platform-specific levels because a
// wrong workload is the likelier mistake and its fix differs.
var rules = []rule{
	{RulePlatform, checkPlatform},
	{RuleInsecure, checkInsecure},
	{RuleDebug, checkDebug},
	{RuleModules, checkModules},
	{RuleConfigs, checkConfigs},
	{RulePlaintext, checkPlaintext},
	{RuleSNPMinTCB, checkSNPMinTCB},
	{RuleSNPMeasurements, checkSNPMeasurements},
	{RuleTDXMinTCBSVN, checkTDXMinTCBSVN},
	{RuleTDXMRTD, checkTDXMRTD},
	{RuleSGXMRENCLAVE, checkSGXMRENCLAVE},
}

// Check appraises claims that a verifier established. It returns nil when
// every rule holds, else the first violation in the order of Rules. A nil
// policy or nil claims fail closed.
func (p *Policy) Check(c *attest.Claims) error {
	if vs := p.Violations(c); len(vs) > 0 {
		return vs[0]
	}
	return nil
}

// Violations applies every rule and returns all that fail, in the order of
// Rules, for callers that log more than the first.
func (p *Policy) Violations(c *attest.Claims) []*Violation {
	if p == nil {
		return []*Violation{{Rule: RulePlatform, Reason: "no policy was given, so nothing is accepted"}}
	}
	if c == nil {
		return []*Violation{{Rule: RulePlatform, Reason: "no claims were given, so nothing can be accepted"}}
	}
	var vs []*Violation
	for _, r := range rules {
		if reason := r.check(p, c); reason != "" {
			vs = append(vs, &Violation{Rule: r.name, Reason: reason})
		}
	}
	return vs
}

func platformList(p *Policy) string {
	if len(p.Platforms) == 0 {
		return "no platform"
	}
	names := make([]string, len(p.Platforms))
	for i, pl := range p.Platforms {
		names[i] = pl.String()
	}
	return strings.Join(names, ", ")
}

// insecure reports whether c rests on the nil backend. Either field says
// so; a verifier keeps them consistent, but a policy does not rely on it.
func insecure(c *attest.Claims) bool {
	return c.Insecure || c.Platform == attest.PlatformNil
}

func checkPlaintext(p *Policy, c *attest.Claims) string {
	if !c.Plaintext || p.Workload.AllowPlaintext {
		return ""
	}
	return `the workload has a plain TCP socket or a plain host directory (prot = "tcp" or plain = true in its Donjon.toml), whose data leaves the keep unprotected; set allow_plaintext = true in [workload] if that is intended`
}

// checkPlatform leaves the nil backend to checkInsecure, which says more.
func checkPlatform(p *Policy, c *attest.Claims) string {
	if c.Platform == attest.PlatformNil || p.allows(c.Platform) {
		return ""
	}
	switch c.Platform {
	case attest.PlatformSNP, attest.PlatformTDX:
		return fmt.Sprintf("platform %s is not accepted (the policy allows %s); add %q to platforms if it is trusted", c.Platform, platformList(p), c.Platform.String())
	}
	return fmt.Sprintf("platform %s is not one this donjon knows (the policy allows %s); upgrade donjon", c.Platform, platformList(p))
}

func checkInsecure(p *Policy, c *attest.Claims) string {
	if !insecure(c) || p.allows(attest.PlatformNil) {
		return ""
	}
	return `the keep runs on the insecure nil backend (no TEE: its host can read and change everything) and the policy does not list "nil"; add "nil" to platforms only for development`
}

func checkDebug(p *Policy, c *attest.Claims) string {
	if !c.Debug || p.AllowDebug {
		return ""
	}
	return fmt.Sprintf("the %s TEE runs in debug mode (its host can read and change the keep) and the policy has allow_debug = false; set allow_debug = true only for development", c.Platform)
}

func checkModules(p *Policy, c *attest.Claims) string {
	w := p.Workload
	if w.AnyModule {
		return ""
	}
	if !c.WorkloadBound() {
		return fmt.Sprintf("the evidence binds no workload (all-zero digests, as an Enarx keep reports) and the policy allows only %s; set any_module = true to accept keeps that attest their key alone", count(len(w.Modules), "listed module"))
	}
	for _, m := range w.Modules {
		if m == c.ModuleDigest {
			return ""
		}
	}
	return fmt.Sprintf("module digest %x is %s; add it to [workload] modules if this module is trusted", c.ModuleDigest, notAmong(len(w.Modules)))
}

func checkConfigs(p *Policy, c *attest.Claims) string {
	w := p.Workload
	if len(w.Configs) == 0 {
		return ""
	}
	if !c.WorkloadBound() {
		return fmt.Sprintf("the evidence binds no workload (all-zero digests, as an Enarx keep reports) and the policy allows only %s; empty [workload] configs to accept any config", count(len(w.Configs), "listed config"))
	}
	for _, d := range w.Configs {
		if d == c.ConfigDigest {
			return ""
		}
	}
	return fmt.Sprintf("config digest %x is %s; add it to [workload] configs if this Donjon.toml is trusted", c.ConfigDigest, notAmong(len(w.Configs)))
}

// notAmong phrases a failed allow-list lookup: "not among the 3 allowed".
func notAmong(n int) string {
	switch n {
	case 0:
		return "not allowed (the list is empty)"
	case 1:
		return "not the 1 allowed"
	}
	return fmt.Sprintf("not among the %d allowed", n)
}

func checkSNPMinTCB(p *Policy, c *attest.Claims) string {
	floor := p.SNP.MinTCB
	if c.Platform != attest.PlatformSNP || floor.isZero() {
		return ""
	}
	if len(c.TCB) != 8 {
		return fmt.Sprintf("the claims carry a %d-byte TCB, not the 8-byte SEV-SNP REPORTED_TCB, so the minimum %s cannot be checked", len(c.TCB), floor)
	}
	switch c.Product {
	case snp.Milan, snp.Genoa, snp.Turin:
	default:
		return fmt.Sprintf("the processor product is unknown (%.40q), so the TCB %x cannot be read against the minimum %s (its layout differs between Milan/Genoa and Turin); use a verifier that reports the product, or set every min_tcb part to 0", c.Product, c.TCB, floor)
	}
	got := snp.DecodeTCB(c.Product, binary.LittleEndian.Uint64(c.TCB))
	var low []string
	below := func(name string, have, want uint8) {
		if have < want {
			low = append(low, fmt.Sprintf("%s %d < %d", name, have, want))
		}
	}
	below("bootloader", got.Bootloader, floor.Bootloader)
	below("tee", got.TEE, floor.TEE)
	below("snp", got.SNP, floor.SNP)
	below("microcode", got.Microcode, floor.Microcode)
	// Only Turin has an FMC part; elsewhere the byte is absent, not zero.
	if c.Product == snp.Turin {
		below("fmc", got.FMC, floor.FMC)
	}
	if len(low) == 0 {
		return ""
	}
	return fmt.Sprintf("reported TCB of this %s (%s) is below the minimum: %s; update the host's firmware and microcode, or lower [snp] min_tcb", c.Product, got, strings.Join(low, ", "))
}

func checkSNPMeasurements(p *Policy, c *attest.Claims) string {
	if c.Platform != attest.PlatformSNP || len(p.SNP.Measurements) == 0 {
		return ""
	}
	return checkList(c.Measurement, p.SNP.Measurements, "launch measurement", "[snp] measurements")
}

func checkTDXMRTD(p *Policy, c *attest.Claims) string {
	if c.Platform != attest.PlatformTDX || len(p.TDX.MRTDs) == 0 {
		return ""
	}
	return checkList(c.Measurement, p.TDX.MRTDs, "MRTD", "[tdx] mrtd")
}

func checkSGXMRENCLAVE(p *Policy, c *attest.Claims) string {
	if c.Platform != attest.PlatformSGX || len(p.SGX.MRENCLAVEs) == 0 {
		return ""
	}
	for _, a := range p.SGX.MRENCLAVEs {
		if bytes.Equal(a[:], c.Measurement) {
			return ""
		}
	}
	return fmt.Sprintf("MRENCLAVE %x is %s; add it to [sgx] mrenclave if this enclave is trusted", c.Measurement, notAmong(len(p.SGX.MRENCLAVEs)))
}

func checkList(have []byte, allowed [][48]byte, what, key string) string {
	if len(have) != 48 {
		return fmt.Sprintf("the claims carry a %d-byte %s, not 48 bytes, so it matches none of the %d allowed", len(have), what, len(allowed))
	}
	for _, a := range allowed {
		if bytes.Equal(a[:], have) {
			return ""
		}
	}
	return fmt.Sprintf("%s %x is %s; add it to %s if this build is trusted", what, have, notAmong(len(allowed)), key)
}

func checkTDXMinTCBSVN(p *Policy, c *attest.Claims) string {
	floor := p.TDX.MinTEETCBSVN
	if c.Platform != attest.PlatformTDX || floor == [16]byte{} {
		return ""
	}
	if len(c.TCB) != 16 {
		return fmt.Sprintf("the claims carry a %d-byte TCB, not the 16-byte TEE_TCB_SVN, so the minimum %x cannot be checked", len(c.TCB), floor)
	}
	var low []string
	for i, want := range floor {
		if c.TCB[i] < want {
			low = append(low, fmt.Sprintf("byte %d: %d < %d", i, c.TCB[i], want))
		}
	}
	if len(low) == 0 {
		return ""
	}
	return fmt.Sprintf("TEE_TCB_SVN %s is below the minimum %s (%s); update the TDX module, or lower [tdx] min_tee_tcb_svn", hex.EncodeToString(c.TCB), hex.EncodeToString(floor[:]), strings.Join(low, ", "))
}
