package tee

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as a table for people:
//
//	BACKEND  AVAILABLE  DETAILS
//	nil      yes        development only: no isolation, no attestation, nothing is protected
//	snp      no         not an SEV-SNP guest (...): run donjon in a VM launched with SEV-SNP
//	...
//	auto: nil
//
// followed by one "note:" line per input that could not be read.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tAVAILABLE\tDETAILS")
	for _, s := range r.Backends {
		avail := "no"
		if s.Available {
			avail = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", oneLine(string(s.Backend)), avail, oneLine(s.Details))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write platform report: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "auto: %s\n", r.Best())
	for _, p := range r.Machine.Problems {
		fmt.Fprintf(&b, "note: %s\n", oneLine(p))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write platform report: %w", err)
	}
	return nil
}

// WriteJSON writes the report as one indented JSON object. Field names are
// stable; scripts may rely on them:
//
//	best                      backend `--backend auto` picks: "nil", "snp" or "tdx"
//	backends[]                one object per backend, in the order nil, snp, tdx, sgx
//	  backend                 "nil", "snp", "tdx" or "sgx"
//	  implemented             false when donjon has no such backend yet (sgx)
//	  available               true when this machine can run it
//	  interface               kernel interface used when available: "configfs-tsm" or
//	                          "/dev/sev-guest"; omitted otherwise
//	  details                 one line: what was found, or why not and what to do
//	machine                   the facts the verdicts were drawn from
//	  cpu_vendor              vendor_id from /proc/cpuinfo, "" if unknown
//	  cpu_flags[]             TEE-related cpu flags present (hypervisor, sev, sev_es,
//	                          sev_snp, tdx_guest, tdx_host_platform, sgx)
//	  sev_guest_device        /dev/sev-guest exists
//	  tdx_guest_device        /dev/tdx_guest exists
//	  configfs_mounted        configfs is mounted at /sys/kernel/config
//	  tsm_report              /sys/kernel/config/tsm/report exists
//	  tsm_providers[]         providers of existing report entries (e.g. "sev_guest")
//	  problems[]              inputs that could not be read; omitted when none
//
// New fields may be added; existing ones keep their names and meaning.
func (r Report) WriteJSON(w io.Writer) error {
	out := struct {
		Best Backend `json:"best"`
		Report
	}{r.Best(), r}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write platform report as JSON: %w", err)
	}
	return nil
}

// oneLine keeps a table row on one line whatever a field holds.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
