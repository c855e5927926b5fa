package policy

import (
	"bytes"
	"donjon.dev/internal/tomlkeys"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	toml "github.com/pelletier/go-toml/v2"

	"donjon.dev/attest"
)

// MaxSize is the largest policy file Parse accepts; real ones are a few
// kilobytes even with thousands of digests.
const MaxSize = 1 << 20

// MaxKeys bounds the keys in one table, and the tables, of a policy file (array elements
// do not count): the schema has twenty.
const MaxKeys = 1000

// ParseError is a problem in a policy file, printed as NAME:LINE:COL: MSG
// (the position is left out when it is unknown).
type ParseError struct {
	Name   string // the name given to Parse
	Line   int    // 1-based; 0 when the problem concerns the whole file
	Column int    // 1-based, in characters; 0 when unknown
	Msg    string // what is wrong and how to fix it, one line
	Err    error  // the TOML decoder's error, if any
}

func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.Name, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
	}
	return e.Name + ": " + e.Msg
}

func (e *ParseError) Unwrap() error { return e.Err }

// file is the TOML layout. Pointers tell an absent key from an empty value
// where the difference matters.
type file struct {
	Platforms   *[]string `toml:"platforms"`
	AllowDebug  bool      `toml:"allow_debug"`
	Workload    workload  `toml:"workload"`
	SNP         snpTable  `toml:"snp"`
	TDX         tdxTable  `toml:"tdx"`
	SGX         sgxTable  `toml:"sgx"`
	Certificate struct {
		Lifetime *string  `toml:"lifetime"`
		Names    []string `toml:"names"`
	} `toml:"certificate"`
}

type workload struct {
	Modules   []string `toml:"modules"`
	AnyModule bool     `toml:"any_module"`
	Configs   []string `toml:"configs"`
	// AllowPlaintext accepts plain TCP sockets and plain directories.
	AllowPlaintext bool `toml:"allow_plaintext"`
}

type snpTable struct {
	// Integers are read wide and range-checked here, for a clearer message
	// than the decoder's overflow error.
	MinTCB struct {
		Bootloader int64 `toml:"bootloader"`
		TEE        int64 `toml:"tee"`
		SNP        int64 `toml:"snp"`
		Microcode  int64 `toml:"microcode"`
		FMC        int64 `toml:"fmc"`
	} `toml:"min_tcb"`
	Measurements []string `toml:"measurements"`
}

type tdxTable struct {
	MinTEETCBSVN string   `toml:"min_tee_tcb_svn"`
	MRTD         []string `toml:"mrtd"`
}

type sgxTable struct {
	MRENCLAVE []string `toml:"mrenclave"`
	TCBStatus []string `toml:"tcb_status"`
}

// keys lists the keys of each table, for unknown-key messages.
var keys = map[string][]string{
	"":            {"platforms", "allow_debug", "workload", "snp", "tdx", "sgx", "certificate"},
	"workload":    {"modules", "any_module", "configs", "allow_plaintext"},
	"snp":         {"min_tcb", "measurements"},
	"snp.min_tcb": {"bootloader", "tee", "snp", "microcode", "fmc"},
	"tdx":         {"min_tee_tcb_svn", "mrtd"},
	"sgx":         {"mrenclave", "tcb_status"},
	"certificate": {"lifetime", "names"},
}

// expected says what each key takes and shows it, for type-mismatch
// messages.
var expected = map[string][2]string{
	"platforms":                {"an array of strings", `platforms = ["snp", "tdx"]`},
	"allow_debug":              {"a boolean", "allow_debug = false"},
	"workload":                 {"a table", "[workload] on its own line"},
	"workload.modules":         {"an array of strings", `modules = ["<64 hex digits>"]`},
	"workload.any_module":      {"a boolean", "any_module = true"},
	"workload.configs":         {"an array of strings", `configs = ["<64 hex digits>"]`},
	"workload.allow_plaintext": {"a boolean", "allow_plaintext = false"},
	"snp":                      {"a table", "[snp] on its own line"},
	"snp.min_tcb":              {"a table", "min_tcb = { bootloader = 3, snp = 8 }"},
	"snp.min_tcb.bootloader":   {"an integer", "bootloader = 3"},
	"snp.min_tcb.tee":          {"an integer", "tee = 0"},
	"snp.min_tcb.snp":          {"an integer", "snp = 8"},
	"snp.min_tcb.microcode":    {"an integer", "microcode = 115"},
	"snp.min_tcb.fmc":          {"an integer", "fmc = 0"},
	"snp.measurements":         {"an array of strings", `measurements = ["<96 hex digits>"]`},
	"tdx":                      {"a table", "[tdx] on its own line"},
	"tdx.min_tee_tcb_svn":      {"a string", `min_tee_tcb_svn = "<32 hex digits>"`},
	"tdx.mrtd":                 {"an array of strings", `mrtd = ["<96 hex digits>"]`},
	"sgx":                      {"a table", "[sgx] on its own line"},
	"sgx.mrenclave":            {"an array of strings", `mrenclave = ["<64 hex digits>"]`},
	"sgx.tcb_status":           {"an array of strings", `tcb_status = ["UpToDate"]`},
	"certificate":              {"a table", "[certificate] on its own line"},
	"certificate.lifetime":     {"a string", `lifetime = "4h"`},
	"certificate.names":        {"an array of strings", `names = ["app.example.com", "*.example.net"]`},
}

// Parse reads a policy file. name identifies it in errors (a file name).
// Every error is a *ParseError naming the first problem in the file.
func Parse(data []byte, name string) (*Policy, error) {
	if len(data) > MaxSize {
		return nil, &ParseError{Name: name, Msg: fmt.Sprintf("the file is %d bytes, more than the %d-byte limit for a policy: is it the right file?", len(data), MaxSize)}
	}
	if line, over := tomlkeys.Overflow(data, MaxKeys); over {
		return nil, &ParseError{Name: name, Line: line, Msg: fmt.Sprintf("the file names more than %d keys in one table, and a policy needs a few dozen: is it the right file?", MaxKeys)}
	}
	// A first, schema-free decode separates syntax errors from schema
	// errors, and lets the index below assume a valid document.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(name, data, err)
	}
	ix := newIndex(data)
	v := &validator{ix: ix}
	// Unknown keys are found here rather than with the decoder's strict
	// mode, which formats every unknown key against the whole document: a
	// file of many unknown keys would take quadratic time.
	v.unknownKeys(doc, nil)
	if err := v.first(name); err != nil {
		return nil, err
	}
	var f file
	if err := toml.NewDecoder(bytes.NewReader(data)).Decode(&f); err != nil {
		return nil, typeError(name, ix, err)
	}
	p := v.policy(&f)
	p.Name = name
	if err := v.first(name); err != nil {
		return nil, err
	}
	return p, nil
}

func syntaxError(name string, data []byte, err error) error {
	e := &ParseError{Name: name, Err: err}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		ix := &index{data: data, lineStarts: lineStarts(data)}
		e.Line, e.Column = line, ix.charCol(line, col)
	}
	e.Msg = "invalid TOML: " + oneLine(strings.TrimPrefix(err.Error(), "toml: ")) + ": fix the syntax here (see https://toml.io)"
	return e
}

// typeError explains why a valid TOML document without unknown keys does
// not decode: a value of the wrong type.
func typeError(name string, ix *index, err error) error {
	e := &ParseError{Name: name, Err: err}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		e.Msg = "cannot read the policy: " + oneLine(err.Error())
		return e
	}
	line, col := de.Position()
	e.Line, e.Column = line, ix.charCol(line, col)
	key := ix.valueAt(line, col)
	if key == nil {
		key = ix.keyAt(line, col)
	}
	if key == nil {
		key = de.Key()
	}
	e.Msg = typeMessage(strings.Join(key, "."), oneLine(strings.TrimPrefix(de.Error(), "toml: ")))
	return e
}

// typeMessage explains a value of the wrong type at path, from the
// decoder's message ("cannot decode TOML string into ...").
func typeMessage(path, msg string) string {
	found := ""
	if rest, ok := strings.CutPrefix(msg, "cannot decode TOML "); ok {
		if t, _, ok := strings.Cut(rest, " into "); ok && t != "" {
			found = ", not " + article(t)
		}
	} else if strings.Contains(msg, "array table") {
		found = ", not an array of tables ([[...]])"
	}
	if i := strings.LastIndexByte(path, '['); i > 0 && strings.HasSuffix(path, "]") {
		if path[:i] == "platforms" {
			return fmt.Sprintf("%s must be a string%s: put the name in quotes", path, found)
		}
		return fmt.Sprintf("%s must be a string of hex digits%s: put it in quotes", path, found)
	}
	if want, ok := expected[path]; ok && found != "" {
		return fmt.Sprintf("%s must be %s%s: write %s", path, want[0], found, want[1])
	}
	return fmt.Sprintf("%s has the wrong type (%s): see docs/policy.md", path, msg)
}

func article(t string) string {
	if strings.IndexByte("aeiou", t[0]) >= 0 {
		return "an " + t
	}
	return "a " + t
}

// unknownKey explains a key the schema does not have: the first part of
// key that is not in its table.
func unknownKey(key []string) string {
	for i, k := range key {
		table := strings.Join(key[:i], ".")
		known, ok := keys[table]
		if !ok {
			break
		}
		if slices.Contains(known, k) {
			continue
		}
		where := "at the top level"
		if table != "" {
			where = "in [" + table + "]"
		}
		if s := suggest(k, known); s != "" {
			return fmt.Sprintf("unknown key %s %s: did you mean %s?", quote(k), where, quote(s))
		}
		// A key put in the wrong table is a common slip: say where it belongs.
		for _, t := range slices.Sorted(maps.Keys(keys)) {
			if t != table && t != "" && slices.Contains(keys[t], k) {
				return fmt.Sprintf("unknown key %s %s: it belongs in [%s]", quote(k), where, t)
			}
		}
		return fmt.Sprintf("unknown key %s %s: remove it; the keys here are %s", quote(k), where, strings.Join(known, ", "))
	}
	return fmt.Sprintf("unknown key %s: remove it; see docs/policy.md for the keys", quote(strings.Join(key, ".")))
}

// unknownKeys reports every key of doc that the schema lacks, below table.
func (v *validator) unknownKeys(doc map[string]any, table []string) {
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		val := doc[k]
		path := append(table[:len(table):len(table)], k)
		if !slices.Contains(keys[strings.Join(table, ".")], k) {
			v.errs = append(v.errs, problem{at: v.ix.keyOffset(strings.Join(path, ".")), msg: unknownKey(path)})
			continue
		}
		if sub, ok := val.(map[string]any); ok {
			if _, isTable := keys[strings.Join(path, ".")]; isTable {
				v.unknownKeys(sub, path)
			}
		}
	}
}

// validator checks the decoded file and builds the Policy, collecting
// problems with their byte offsets in the file.
type validator struct {
	ix   *index
	errs []problem
}

type problem struct {
	at  int // byte offset, noPos when the problem has no single place
	msg string
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, problem{at: v.ix.offset(path), msg: fmt.Sprintf(format, args...)})
}

// first returns the problem that comes first in the file, or nil. Problems
// without a place come last, after all the ones a reader can go to.
func (v *validator) first(name string) error {
	if len(v.errs) == 0 {
		return nil
	}
	best := v.errs[0]
	for _, e := range v.errs[1:] {
		switch {
		case e.at == best.at && e.msg < best.msg: // a tie still has one answer
			best = e
		case e.at != noPos && (best.at == noPos || e.at < best.at):
			best = e
		}
	}
	line, col := v.ix.lineCol(best.at)
	return &ParseError{Name: name, Line: line, Column: col, Msg: best.msg}
}

func (v *validator) policy(f *file) *Policy {
	p := &Policy{AllowDebug: f.AllowDebug}
	p.Platforms = v.platforms(f.Platforms)
	p.Workload = v.workload(&f.Workload)
	p.SNP = v.snp(&f.SNP)
	p.TDX = v.tdx(&f.TDX)
	p.SGX = v.sgx(&f.SGX)
	p.CertificateLifetime = v.lifetime(f.Certificate.Lifetime)
	p.CertificateNames = v.names(f.Certificate.Names)
	return p
}

var platformNames = []string{"snp", "tdx", "nil"}

func (v *validator) platforms(names *[]string) []attest.Platform {
	if names == nil {
		return []attest.Platform{attest.PlatformSNP, attest.PlatformTDX}
	}
	if len(*names) == 0 {
		v.fail("platforms", `platforms is empty, so nothing would be accepted: list at least one of "snp", "tdx" or "nil", or leave the key out for ["snp", "tdx"]`)
	}
	var out []attest.Platform
	seen := map[string]int{}
	nerrs := len(v.errs)
	for i, n := range *names {
		if len(v.errs) > nerrs {
			break // the first bad entry is the one reported; the rest cost time
		}
		at := fmt.Sprintf("platforms[%d]", i)
		var pl attest.Platform
		switch n {
		case "snp":
			pl = attest.PlatformSNP
		case "tdx":
			pl = attest.PlatformTDX
		case "nil":
			pl = attest.PlatformNil
		case "sgx":
			pl = attest.PlatformSGX
		default:
			if s := suggest(n, platformNames); s != "" {
				v.fail(at, "platform %s is not a platform: did you mean %s?", quote(n), quote(s))
			} else {
				v.fail(at, `platform %s is not a platform: use "snp", "tdx" or "nil"`, quote(n))
			}
			continue
		}
		if j, dup := seen[n]; dup {
			v.fail(at, "platforms[%d] repeats platforms[%d] (%q): remove the duplicate", i, j, n)
			continue
		}
		seen[n] = i
		out = append(out, pl)
	}
	return out
}

func (v *validator) workload(w *workload) Workload {
	out := Workload{AnyModule: w.AnyModule, AllowPlaintext: w.AllowPlaintext}
	switch {
	case w.AnyModule && len(w.Modules) > 0:
		v.fail("workload.any_module", "workload: any_module = true accepts any module, so modules must be empty: remove modules, or set any_module = false")
	case !w.AnyModule && len(w.Modules) == 0:
		v.fail("workload", "workload: list allowed module digests in modules, or set any_module = true to accept any workload")
	}
	for _, d := range v.hexList("workload.modules", w.Modules, 32, "the SHA-256 of the wasm module (sha256sum app.wasm)") {
		out.Modules = append(out.Modules, [32]byte(d))
	}
	for _, d := range v.hexList("workload.configs", w.Configs, 32, "the SHA-256 of Donjon.toml (sha256sum Donjon.toml)") {
		out.Configs = append(out.Configs, [32]byte(d))
	}
	return out
}

func (v *validator) snp(s *snpTable) SNP {
	var out SNP
	svn := func(part string, n int64) uint8 {
		if n < 0 || n > 255 {
			v.fail("snp.min_tcb."+part, "snp.min_tcb.%s is %d: a security version number is 0 to 255", part, n)
			return 0
		}
		return uint8(n)
	}
	t := s.MinTCB
	out.MinTCB = SNPTCB{
		Bootloader: svn("bootloader", t.Bootloader),
		TEE:        svn("tee", t.TEE),
		SNP:        svn("snp", t.SNP),
		Microcode:  svn("microcode", t.Microcode),
		FMC:        svn("fmc", t.FMC),
	}
	for _, d := range v.hexList("snp.measurements", s.Measurements, 48, "the 48-byte SEV-SNP launch measurement (donjon verify prints it)") {
		out.Measurements = append(out.Measurements, [48]byte(d))
	}
	return out
}

func (v *validator) tdx(t *tdxTable) TDX {
	var out TDX
	if t.MinTEETCBSVN != "" {
		if b, ok := v.hex("tdx.min_tee_tcb_svn", t.MinTEETCBSVN, 16, "TEE_TCB_SVN, one security version number per byte (donjon verify prints it)"); ok {
			out.MinTEETCBSVN = [16]byte(b)
		}
	}
	for _, d := range v.hexList("tdx.mrtd", t.MRTD, 48, "the 48-byte TDX MRTD (donjon verify prints it)") {
		out.MRTDs = append(out.MRTDs, [48]byte(d))
	}
	return out
}

// sgxStatuses are the TCB statuses Intel assigns, in the order of trust.
var sgxStatuses = []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"}

func (v *validator) sgx(t *sgxTable) SGX {
	var out SGX
	for _, d := range v.hexList("sgx.mrenclave", t.MRENCLAVE, 32, "the 32-byte SGX MRENCLAVE (donjon verify prints it as the measurement)") {
		out.MRENCLAVEs = append(out.MRENCLAVEs, [32]byte(d))
	}
	seen := map[string]bool{}
	for i, st := range t.TCBStatus {
		at := fmt.Sprintf("sgx.tcb_status[%d]", i)
		switch {
		case !slices.Contains(sgxStatuses, st):
			v.fail(at, "sgx.tcb_status %s is not an Intel TCB status: use some of %s (Revoked is never accepted)", quote(st), strings.Join(sgxStatuses, ", "))
		case seen[st]:
			v.fail(at, "sgx.tcb_status repeats %s: remove the duplicate", quote(st))
		default:
			seen[st] = true
			out.TCBStatus = append(out.TCBStatus, st)
		}
	}
	return out
}

// hexList decodes an allow-list of fixed-size values, rejecting bad entries,
// duplicates, and all-zero digests (which stand for "no workload bound" and
// would let such keeps through an allow-list).
func (v *validator) hexList(path string, vals []string, size int, what string) [][]byte {
	var out [][]byte
	seen := map[string]int{}
	nerrs := len(v.errs)
	for i, s := range vals {
		if len(v.errs) > nerrs {
			break // the first bad entry is the one reported; the rest cost time
		}
		at := fmt.Sprintf("%s[%d]", path, i)
		b, ok := v.hex(at, s, size, what)
		if !ok {
			continue
		}
		if j, dup := seen[string(b)]; dup {
			v.fail(at, "%s repeats %s[%d]: remove the duplicate", at, path, j)
			continue
		}
		seen[string(b)] = i
		if size == 32 && bytes.Equal(b, make([]byte, 32)) {
			v.fail(at, "%s is all zeros, which means the evidence bound no workload: remove it, and set any_module = true to accept such keeps", at)
			continue
		}
		out = append(out, b)
	}
	return out
}

// hex decodes one value of exactly size bytes written in hex.
func (v *validator) hex(path, s string, size int, what string) ([]byte, bool) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v.fail(path, "%s starts with 0x: write the %d hex digits alone", path, 2*size)
		return nil, false
	}
	if len(s) != 2*size {
		v.fail(path, "%s is %d characters, not %d hex digits: it must be %s", path, utf8.RuneCountInString(s), 2*size, what)
		return nil, false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		v.fail(path, "%s %s is not hexadecimal: it must be %d hex digits (0-9, a-f), %s", path, quote(s), 2*size, what)
		return nil, false
	}
	return b, true
}

func (v *validator) lifetime(s *string) time.Duration {
	const at = "certificate.lifetime"
	if s == nil {
		return DefaultLifetime
	}
	d, err := time.ParseDuration(*s)
	if err != nil {
		v.fail(at, `certificate.lifetime %s is not a duration: write it like "4h" or "90m" (units h, m, s; 7 days is "168h")`, quote(*s))
		return DefaultLifetime
	}
	if d < MinLifetime || d > MaxLifetime {
		v.fail(at, `certificate.lifetime %s is outside "5m" to "168h" (7 days): short enough that a revoked keep soon loses its certificate, long enough that renewals do not swamp the steward`, quote(*s))
		return DefaultLifetime
	}
	return d
}

func (v *validator) names(names []string) []string {
	seen := map[string]bool{}
	for i, n := range names {
		at := fmt.Sprintf("certificate.names[%d]", i)
		if msg := namePatternProblem(n); msg != "" {
			v.fail("certificate.names", "%s %s %s", at, quote(n), msg)
			continue
		}
		if seen[strings.ToLower(n)] {
			v.fail("certificate.names", "%s %s is listed twice: keep one", at, quote(n))
		}
		seen[strings.ToLower(n)] = true
	}
	return names
}

// maxQuoted bounds how much of an untrusted string a message repeats.
const maxQuoted = 64

// quote renders an untrusted string on one line, shortened.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		s = string([]rune(s)[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

// oneLine flattens a message from the TOML library, which may quote bytes
// of the file, into one line without control characters.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// suggest returns the candidate that s is a likely typo of (case aside):
// one edit away for short words, two for longer ones; or "".
func suggest(s string, candidates []string) string {
	if len(s) > 2*maxQuoted {
		return ""
	}
	s = strings.ToLower(s)
	best, bestDist := "", 3
	for _, c := range candidates {
		limit := 2
		if len(c) <= 4 {
			limit = 1
		}
		if d := distance(s, c); d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between two short strings.
func distance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			diag, row[j] = row[j], min(row[j]+1, row[j-1]+1, diag+cost)
		}
	}
	return row[len(b)]
}
