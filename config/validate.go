package config

import (
	"fmt"
	"reflect"
	"slices"
)

// Validate checks a Config against the same rules Parse applies, for
// configs built or changed in code (a --dir flag appended to Files, say).
// Its errors are *Error values without a line.
func (c *Config) Validate() error {
	if msg := c.problem(); msg != "" {
		src := c.source
		if src == "" {
			src = "config"
		}
		return &Error{File: src, Msg: msg}
	}
	return nil
}

func (c *Config) problem() string {
	if c.Steward != "" {
		if msg := stewardProblem(c.Steward); msg != "" {
			return msg
		}
	}
	for i, a := range c.Args {
		if msg := argProblem(i, a); msg != "" {
			return msg
		}
	}
	seen := make(map[string]bool, len(c.Env))
	for _, v := range c.Env {
		if msg := envNameProblem(v.Name); msg != "" {
			return msg
		}
		if seen[v.Name] {
			return fmt.Sprintf("env.%s is set twice: keep one", v.Name)
		}
		seen[v.Name] = true
		if msg := envValueProblem(v.Name, v.Value); msg != "" {
			return msg
		}
	}
	for i, f := range c.Files {
		if msg := fileProblem(i, f); msg != "" {
			return msg
		}
	}
	if _, msg := filesProblem(c.Files); msg != "" {
		return msg
	}
	if n := c.Limits.Memory; n != 0 {
		if msg := memoryProblem(n); msg != "" {
			return "limits.memory " + formatSize(n) + " " + msg
		}
		if n%PageSize != 0 {
			return fmt.Sprintf("limits.memory %d bytes is not a whole number of 64KiB pages: round it up with MemoryLimit", n)
		}
	}
	for i, n := range c.TLS.Names {
		if msg := tlsNameProblem(fmt.Sprintf("tls.names[%d]", i), n); msg != "" {
			return msg
		}
	}
	if msg := tlsNamesProblem(c.TLS.Names); msg != "" {
		return msg
	}
	if c.Limits.Timeout < 0 {
		return fmt.Sprintf("limits.timeout %s is negative: use 0 for no time limit", c.Limits.Timeout)
	}
	return ""
}

// fileProblem checks one entry on its own.
func fileProblem(i int, f File) string {
	allowed, ok := kindKeys[f.Kind]
	if !ok {
		return fmt.Sprintf("files[%d].kind %s is not a kind: use one of %s", i, quote(string(f.Kind)), list(kinds))
	}
	field := func(k string) string { return fmt.Sprintf("files[%d].%s", i, k) }
	if f.Name != "" {
		if msg := nameProblem(field("name"), f.Name); msg != "" {
			return msg
		}
	}
	// Fields of other kinds must be left zero, as their keys must be absent
	// from the file.
	set := []struct {
		key    string
		isSet  bool
		actual string
	}{
		{"addr", f.Addr.IsValid(), "Addr"},
		{"port", f.Port != 0, "Port"},
		{"prot", f.Prot != "", "Prot"},
		{"host", f.Host != "" && f.Kind != KindDir, "Host"},
		{"host", f.HostPath != "" && f.Kind != KindConnect, "HostPath"},
		{"guest", f.Guest != "", "Guest"},
		{"plain", f.Plain, "Plain"},
		{"require", !reflect.DeepEqual(f.Peer, Peer{}), "Peer"},
	}
	for _, s := range set {
		if s.isSet && !slices.Contains(allowed, s.key) {
			return fmt.Sprintf("%s has %s set: clear it; %s applies to %s", entry(i, f.Kind), s.actual, s.key, keyKinds[s.key])
		}
	}
	switch {
	case f.Kind == KindConnect && f.HostPath != "":
		return entry(i, f.Kind) + " has HostPath set: clear it and set Host; HostPath is for dir entries"
	case f.Kind == KindDir && f.Host != "":
		return entry(i, f.Kind) + " has Host set: clear it and set HostPath; Host is for connect entries"
	}

	switch f.Kind {
	case KindListen, KindConnect:
		if f.Port == 0 {
			return fmt.Sprintf("%s has no port: set Port to 1..65535", entry(i, f.Kind))
		}
		if msg := protProblem(field("prot"), string(f.Prot)); msg != "" {
			return msg
		}
		caKey := "ca"
		if f.Kind == KindListen {
			caKey = "client_ca"
		}
		if f.Peer.CA != "" {
			if msg := caProblem(field(caKey), f.Kind, f.Peer.CA); msg != "" {
				return msg
			}
		}
		if _, msg := peerProblem(i, f.Kind, f.Prot, f.Peer); msg != "" {
			return msg
		}
	}
	switch f.Kind {
	case KindListen:
		if !f.Addr.IsValid() {
			return fmt.Sprintf("%s has no addr: set Addr, e.g. to netip.IPv6Unspecified()", entry(i, f.Kind))
		}
	case KindConnect:
		return hostProblem(field("host"), f.Host)
	case KindDir:
		if msg := hostPathProblem(field("host"), f.HostPath); msg != "" {
			return msg
		}
		return guestProblem(field("guest"), f.Guest)
	}
	return ""
}
