package config

import (
	"donjon.dev/internal/tomlkeys"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// topKeys are the keys a config may have at the top level.
var topKeys = []string{"steward", "args", "env", "files", "limits", "tls"}

// tlsKeys are the keys of [tls].
var tlsKeys = []string{"names"}

// limitKeys are the keys of [limits].
var limitKeys = []string{"memory", "timeout"}

// kindKeys are the keys each kind of [[files]] entry takes.
var kindKeys = map[Kind][]string{
	KindNull:    {"kind", "name"},
	KindStdin:   {"kind", "name"},
	KindStdout:  {"kind", "name"},
	KindStderr:  {"kind", "name"},
	KindListen:  {"kind", "name", "addr", "port", "prot", "client_ca", "require", "peer_modules", "peer_configs", "allow_insecure"},
	KindConnect: {"kind", "name", "host", "port", "prot", "ca", "require", "peer_modules", "peer_configs", "allow_insecure"},
	KindDir:     {"kind", "name", "host", "guest", "plain"},
}

// keyKinds says which kinds take each kind-specific key, for messages about
// a key used with the wrong kind.
var keyKinds = map[string]string{
	"addr":  "listen",
	"port":  "listen and connect",
	"prot":  "listen and connect",
	"host":  "connect and dir",
	"guest": "dir",
	"plain": "dir",

	"client_ca":      "listen",
	"ca":             "connect",
	"require":        "listen and connect",
	"peer_modules":   "listen and connect",
	"peer_configs":   "listen and connect",
	"allow_insecure": "listen and connect",
}

// Parse parses and validates a Donjon.toml (or an Enarx.toml) held in data.
// file names it in error messages. Every error is an *Error; the first
// problem in the file (by line) is the one reported.
func Parse(file string, data []byte) (*Config, error) {
	if len(data) > MaxSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("the file is %d bytes, more than the %s limit: a config holds settings, not data; move data into a dir entry", len(data), formatSize(MaxSize))}
	}
	if line, over := tomlkeys.Overflow(data, MaxKeys); over {
		return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("more than %d keys in one table: a config holds settings, not data; move data into a dir entry", MaxKeys)}
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(file, data, err)
	}
	p := &parser{file: file, ix: buildIndex(data)}
	c := p.config(doc)
	if err := p.first(); err != nil {
		return nil, err
	}
	c.source = file
	c.raw = slices.Clone(data)
	return c, nil
}

// syntaxError turns a TOML decoding error into an *Error with a position.
func syntaxError(file string, data []byte, err error) error {
	e := &Error{File: file, Err: err}
	msg := err.Error()
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		at := (&index{data: data, lineStarts: lineStarts(data)}).lineColPos(line, col)
		e.Line, e.Column = at.line, at.col
	}
	msg = strings.TrimPrefix(msg, "toml: ")
	e.Msg = "invalid TOML: " + oneLine(msg) + ": fix the syntax here (see https://toml.io)"
	return e
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// parser turns the decoded document into a Config, collecting problems with
// their positions.
type parser struct {
	file string
	ix   *index
	errs []problem
}

// problem is an error found at a byte offset (noPos when unknown).
type problem struct {
	at  int
	msg string
}

func (p *parser) fail(at int, format string, args ...any) {
	p.errs = append(p.errs, problem{at: at, msg: fmt.Sprintf(format, args...)})
}

// failMsg records a message from one of the shared rules.
func (p *parser) failMsg(at int, msg string) {
	p.fail(at, "%s", msg)
}

// first returns the problem that comes first in the file, or nil.
func (p *parser) first() error {
	if len(p.errs) == 0 {
		return nil
	}
	best := p.errs[0]
	for _, e := range p.errs[1:] {
		if e.at != noPos && (best.at == noPos || e.at < best.at) {
			best = e
		}
	}
	at := p.ix.offsetPos(best.at)
	return &Error{File: p.file, Line: at.line, Column: at.col, Msg: best.msg}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// typeName describes a decoded TOML value for messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return "a date or time"
	}
	return fmt.Sprintf("a %T", v)
}

func (p *parser) unknownKey(at int, key, where string, known []string, knownDesc string) {
	if s := suggest(key, known); s != "" {
		p.fail(at, "unknown key %s%s: did you mean %s?", quote(key), where, quote(s))
		return
	}
	p.fail(at, "unknown key %s%s: remove it; %s", quote(key), where, knownDesc)
}

func (p *parser) config(doc map[string]any) *Config {
	c := &Config{}
	root := keyPath{}
	hasFiles := false
	for _, k := range sortedKeys(doc) {
		v, at := doc[k], root.key(k)
		switch k {
		case "steward":
			s, ok := v.(string)
			if !ok {
				p.fail(p.ix.valuePos(at), "steward must be a string, not %s: write steward = %s", typeName(v), exampleSteward)
				continue
			}
			if msg := stewardProblem(s); msg != "" {
				p.failMsg(p.ix.valuePos(at), msg)
			}
			c.Steward = s
		case "args":
			c.Args = p.args(v, at)
		case "env":
			c.Env = p.env(v, at)
		case "files":
			hasFiles = true
			c.Files = p.files(v, at)
		case "limits":
			c.Limits = p.limits(v, at)
		case "tls":
			c.TLS = p.tls(v, at)
		default:
			p.unknownKey(p.ix.keyPos(at), k, "", topKeys, "the top-level keys are "+list(topKeys))
		}
	}
	if !hasFiles {
		c.Files = defaultFiles()
	}
	return c
}

func (p *parser) args(v any, at keyPath) []string {
	arr, ok := v.([]any)
	if !ok {
		p.fail(p.ix.valuePos(at), `args must be an array of strings, not %s: write args = ["--flag", "value"]`, typeName(v))
		return nil
	}
	args := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			p.fail(p.ix.valuePos(at.index(i)), "args[%d] must be a string, not %s: put it in quotes", i, typeName(e))
			continue
		}
		if msg := argProblem(i, s); msg != "" {
			p.failMsg(p.ix.valuePos(at.index(i)), msg)
		}
		args = append(args, s)
	}
	return args
}

func (p *parser) env(v any, at keyPath) []EnvVar {
	m, ok := v.(map[string]any)
	if !ok {
		p.fail(p.ix.valuePos(at), `env must be a table, not %s: write [env] and then lines like NAME = "value"`, typeName(v))
		return nil
	}
	env := make([]EnvVar, 0, len(m))
	for _, name := range sortedKeys(m) {
		val, vat := m[name], at.key(name)
		if msg := envNameProblem(name); msg != "" {
			p.failMsg(p.ix.keyPos(vat), msg)
			continue
		}
		s, ok := val.(string)
		if !ok {
			p.fail(p.ix.valuePos(vat), "env.%s must be a string, not %s: put the value in quotes", name, typeName(val))
			continue
		}
		if msg := envValueProblem(name, s); msg != "" {
			p.failMsg(p.ix.valuePos(vat), msg)
		}
		env = append(env, EnvVar{Name: name, Value: s})
	}
	return env
}

func (p *parser) files(v any, at keyPath) []File {
	arr, ok := v.([]any)
	if !ok {
		p.fail(p.ix.keyPos(at), `files must be an array of tables, not %s: write each entry as [[files]] (double brackets) with kind = "..."`, typeName(v))
		return nil
	}
	files := make([]File, 0, len(arr))
	valid := true
	for i, e := range arr {
		f, ok := p.fileEntry(i, e, at.index(i))
		valid = valid && ok
		files = append(files, f)
	}
	// The rules between entries only make sense once each entry is sound.
	if valid {
		if i, msg := filesProblem(files); msg != "" {
			p.failMsg(p.ix.keyPos(at.index(i)), msg)
		}
	}
	return files
}

func (p *parser) fileEntry(i int, v any, at keyPath) (File, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.fail(p.ix.valuePos(at), `files[%d] must be a table, not %s: write it as [[files]] with kind = "..."`, i, typeName(v))
		return File{}, false
	}
	nerrs := len(p.errs)
	kv, has := m["kind"]
	if !has {
		p.fail(p.ix.keyPos(at), "files[%d] has no kind: add kind = \"...\" with one of %s", i, list(kinds))
		return File{}, false
	}
	ks, ok := kv.(string)
	if !ok {
		p.fail(p.ix.valuePos(at.key("kind")), "files[%d].kind must be a string, not %s: use one of %s", i, typeName(kv), list(kinds))
		return File{}, false
	}
	kind := Kind(ks)
	allowed, ok := kindKeys[kind]
	if !ok {
		if s := suggest(ks, kinds); s != "" {
			p.fail(p.ix.valuePos(at.key("kind")), "files[%d].kind %s is not a kind: did you mean %s?", i, quote(ks), quote(s))
		} else {
			p.fail(p.ix.valuePos(at.key("kind")), "files[%d].kind %s is not a kind: use one of %s", i, quote(ks), list(kinds))
		}
		return File{}, false
	}
	f := File{Kind: kind, Name: ks}
	where := " in " + entry(i, kind)

	for _, k := range sortedKeys(m) {
		if slices.Contains(allowed, k) {
			continue
		}
		kat := p.ix.keyPos(at.key(k))
		if kinds, known := keyKinds[k]; known {
			p.fail(kat, "unknown key %s%s: remove it; %s applies to %s", quote(k), where, k, kinds)
			continue
		}
		p.unknownKey(kat, k, where, allowed, fmt.Sprintf("a %s entry takes %s", kind, list(allowed)))
	}

	if name, ok := p.str(m, at, "name", fmt.Sprintf("files[%d].name", i)); ok {
		if msg := nameProblem(fmt.Sprintf("files[%d].name", i), name); msg != "" {
			p.failMsg(p.ix.valuePos(at.key("name")), msg)
		}
		f.Name = name
	}

	field := func(k string) string { return fmt.Sprintf("files[%d].%s", i, k) }
	missing := func(k, example string) {
		p.fail(p.ix.keyPos(at), "%s has no %s: add %s = %s", entry(i, kind), k, k, example)
	}
	switch kind {
	case KindListen, KindConnect:
		f.Prot = ProtTLS
		if s, ok := p.str(m, at, "prot", field("prot")); ok {
			if msg := protProblem(field("prot"), s); msg != "" {
				p.failMsg(p.ix.valuePos(at.key("prot")), msg)
			}
			f.Prot = Prot(s)
		}
		if pv, has := m["port"]; !has {
			missing("port", "8443")
		} else if n, ok := pv.(int64); !ok {
			p.fail(p.ix.valuePos(at.key("port")), "%s must be an integer, not %s: write port = 8443", field("port"), typeName(pv))
		} else if msg := portProblem(field("port"), n); msg != "" {
			p.failMsg(p.ix.valuePos(at.key("port")), msg)
		} else {
			f.Port = uint16(n)
		}
	}
	switch kind {
	case KindListen:
		f.Addr = netip.IPv6Unspecified()
		if s, ok := p.str(m, at, "addr", field("addr")); ok {
			if msg := addrProblem(field("addr"), s); msg != "" {
				p.failMsg(p.ix.valuePos(at.key("addr")), msg)
			} else {
				f.Addr = netip.MustParseAddr(s)
			}
		}
	}
	switch kind {
	case KindListen, KindConnect:
		f.Peer = p.peer(i, kind, f.Prot, m, at)
	}
	switch kind {
	case KindConnect:
		if _, has := m["host"]; !has {
			missing("host", `"example.com"`)
		} else if s, ok := p.str(m, at, "host", field("host")); ok {
			if msg := hostProblem(field("host"), s); msg != "" {
				p.failMsg(p.ix.valuePos(at.key("host")), msg)
			}
			f.Host = s
		}
	case KindDir:
		if _, has := m["host"]; !has {
			missing("host", `"data" (the directory on the host)`)
		} else if s, ok := p.str(m, at, "host", field("host")); ok {
			if msg := hostPathProblem(field("host"), s); msg != "" {
				p.failMsg(p.ix.valuePos(at.key("host")), msg)
			}
			f.HostPath = s
		}
		if _, has := m["guest"]; !has {
			missing("guest", `"/data" (where the guest sees it)`)
		} else if s, ok := p.str(m, at, "guest", field("guest")); ok {
			if msg := guestProblem(field("guest"), s); msg != "" {
				p.failMsg(p.ix.valuePos(at.key("guest")), msg)
			}
			f.Guest = s
		}
		if bv, has := m["plain"]; has {
			b, ok := bv.(bool)
			if !ok {
				p.fail(p.ix.valuePos(at.key("plain")), "%s must be a boolean, not %s: write plain = true or plain = false", field("plain"), typeName(bv))
			}
			f.Plain = b
		}
	}
	return f, len(p.errs) == nerrs
}

// peer reads the keys of a socket entry that say how it authenticates its
// peer.
func (p *parser) peer(i int, kind Kind, prot Prot, m map[string]any, at keyPath) Peer {
	var peer Peer
	field := func(k string) string { return fmt.Sprintf("files[%d].%s", i, k) }
	caKey := "ca"
	if kind == KindListen {
		caKey = "client_ca"
	}
	if s, ok := p.str(m, at, caKey, field(caKey)); ok {
		if msg := caProblem(field(caKey), kind, s); msg != "" {
			p.failMsg(p.ix.valuePos(at.key(caKey)), msg)
		}
		peer.CA = s
	}
	if s, ok := p.str(m, at, "require", field("require")); ok {
		if s != "keep" {
			p.fail(p.ix.valuePos(at.key("require")), `%s %s is not a requirement: write require = "keep" to accept only attested keeps, or remove it`, field("require"), quote(s))
		}
		peer.Keep = true
	}
	peer.Modules = p.digests(m, at, "peer_modules", field("peer_modules"))
	peer.Configs = p.digests(m, at, "peer_configs", field("peer_configs"))
	if bv, has := m["allow_insecure"]; has {
		b, ok := bv.(bool)
		if !ok {
			p.fail(p.ix.valuePos(at.key("allow_insecure")), "%s must be a boolean, not %s: write allow_insecure = true or remove it", field("allow_insecure"), typeName(bv))
		}
		peer.AllowInsecure = b
	}
	if key, msg := peerProblem(i, kind, prot, peer); msg != "" {
		p.failMsg(p.ix.keyPos(at.key(key)), msg)
	}
	return peer
}

// digests reads an optional array of SHA-256 digests in hex.
func (p *parser) digests(m map[string]any, at keyPath, key, subject string) [][32]byte {
	v, has := m[key]
	if !has {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		p.fail(p.ix.valuePos(at.key(key)), `%s must be an array of SHA-256 digests in hex, not %s: write %s = ["e3b0c442..."]`, subject, typeName(v), key)
		return nil
	}
	out := make([][32]byte, 0, len(arr))
	for j, e := range arr {
		s, ok := e.(string)
		if !ok {
			p.fail(p.ix.valuePos(at.key(key).index(j)), "%s[%d] must be a string, not %s: put the digest in quotes", subject, j, typeName(e))
			continue
		}
		d, msg := parseDigest(fmt.Sprintf("%s[%d]", subject, j), s)
		if msg != "" {
			p.failMsg(p.ix.valuePos(at.key(key).index(j)), msg)
			continue
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) tls(v any, at keyPath) TLS {
	var t TLS
	m, ok := v.(map[string]any)
	if !ok {
		p.fail(p.ix.valuePos(at), `tls must be a table, not %s: write [tls] and then names = ["app.example.com"]`, typeName(v))
		return t
	}
	for _, k := range sortedKeys(m) {
		val, kat := m[k], at.key(k)
		switch k {
		case "names":
			arr, ok := val.([]any)
			if !ok {
				p.fail(p.ix.valuePos(kat), `tls.names must be an array of strings, not %s: write names = ["app.example.com"]`, typeName(val))
				continue
			}
			for j, e := range arr {
				s, ok := e.(string)
				if !ok {
					p.fail(p.ix.valuePos(kat.index(j)), "tls.names[%d] must be a string, not %s: put the name in quotes", j, typeName(e))
					continue
				}
				if msg := tlsNameProblem(fmt.Sprintf("tls.names[%d]", j), s); msg != "" {
					p.failMsg(p.ix.valuePos(kat.index(j)), msg)
				}
				t.Names = append(t.Names, s)
			}
			if msg := tlsNamesProblem(t.Names); msg != "" {
				p.failMsg(p.ix.valuePos(kat), msg)
			}
		default:
			p.unknownKey(p.ix.keyPos(kat), k, " in [tls]", tlsKeys, "[tls] takes "+list(tlsKeys))
		}
	}
	return t
}

// str reads an optional string key of a table. It reports a value of
// another type and returns false for it, as for a missing key.
func (p *parser) str(m map[string]any, at keyPath, key, subject string) (string, bool) {
	v, has := m[key]
	if !has {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		p.fail(p.ix.valuePos(at.key(key)), "%s must be a string, not %s: put the value in quotes", subject, typeName(v))
		return "", false
	}
	return s, true
}

func (p *parser) limits(v any, at keyPath) Limits {
	var l Limits
	m, ok := v.(map[string]any)
	if !ok {
		p.fail(p.ix.valuePos(at), `limits must be a table, not %s: write [limits] and then lines like memory = "256MiB"`, typeName(v))
		return l
	}
	for _, k := range sortedKeys(m) {
		val, kat := m[k], at.key(k)
		vpos := p.ix.valuePos(kat)
		switch k {
		case "memory":
			l.Memory = p.memory(val, vpos)
		case "timeout":
			s, ok := val.(string)
			if !ok {
				p.fail(vpos, `limits.timeout must be a duration string, not %s: write e.g. timeout = "30s"`, typeName(val))
				continue
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				p.fail(vpos, `limits.timeout %s is not a duration: use e.g. "30s", "5m" or "24h" (units: ms, s, m, h)`, quote(s))
				continue
			}
			if d <= 0 {
				p.fail(vpos, "limits.timeout %s is not positive: remove the key for no time limit", quote(s))
				continue
			}
			l.Timeout = d
		default:
			p.unknownKey(p.ix.keyPos(kat), k, " in [limits]", limitKeys, "[limits] takes "+list(limitKeys))
		}
	}
	return l
}

func (p *parser) memory(v any, at int) uint64 {
	var n uint64
	var shown string
	switch x := v.(type) {
	case string:
		size, err := ParseSize(x)
		if err != nil {
			p.fail(at, "limits.memory %v", err)
			return 0
		}
		n, shown = size, quote(x)
	case int64:
		if x < 0 {
			p.fail(at, `limits.memory %d is negative: use e.g. "256MiB"`, x)
			return 0
		}
		n, shown = uint64(x), fmt.Sprintf("%d (bytes)", x)
	default:
		p.fail(at, `limits.memory must be a size string or an integer, not %s: write e.g. memory = "256MiB"`, typeName(v))
		return 0
	}
	if msg := memoryProblem(n); msg != "" {
		p.fail(at, "limits.memory %s %s", shown, msg)
		return 0
	}
	return roundPages(n)
}
