package policy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"donjon.dev/attest"
)

const docPath = "../../docs/policy.md"

// tomlBlocks returns the bodies of the ```toml fenced blocks in a markdown
// document.
func tomlBlocks(doc string) ([]string, error) {
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```toml":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: unterminated ```toml block", docPath)
	}
	return blocks, nil
}

// TestDocExamples parses every example policy in docs/policy.md, so the
// documentation cannot drift from the parser.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := tomlBlocks(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 3 {
		t.Fatalf("%s has %d toml examples, want at least 3 (SNP, TDX, development)", docPath, len(blocks))
	}
	var snpProd, tdxProd, dev bool
	for i, b := range blocks {
		p, err := Parse([]byte(b), docPath)
		if err != nil {
			t.Errorf("example %d: %v", i+1, err)
			continue
		}
		switch {
		case slices.Contains(p.Platforms, attest.PlatformNil):
			dev = p.Workload.AnyModule
		case slices.Equal(p.Platforms, []attest.Platform{attest.PlatformSNP}):
			snpProd = len(p.Workload.Modules) > 0 && len(p.SNP.Measurements) > 0 && !p.SNP.MinTCB.isZero() && !p.AllowDebug
		case slices.Equal(p.Platforms, []attest.Platform{attest.PlatformTDX}):
			tdxProd = len(p.Workload.Modules) > 0 && len(p.TDX.MRTDs) > 0 && p.TDX.MinTEETCBSVN != [16]byte{} && !p.AllowDebug
		}
	}
	if !snpProd || !tdxProd || !dev {
		t.Errorf("examples found: production SNP %v, production TDX %v, development with nil %v; want all", snpProd, tdxProd, dev)
	}
}

// TestDocCoversSchema checks that docs/policy.md names every key and lists
// the rules in the order Check applies them.
func TestDocCoversSchema(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for table, ks := range keys {
		for _, k := range ks {
			if _, isTable := keys[k]; isTable && table == "" {
				k = "[" + k + "]"
			}
			if !strings.Contains(doc, "`"+k+"`") {
				t.Errorf("%s does not document key %s (table %q)", docPath, k, table)
			}
		}
	}
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| \\d+ \\| `([a-z_.]+)` \\|").FindAllStringSubmatch(doc, -1) {
		rows = append(rows, m[1])
	}
	if !slices.Equal(rows, Rules()) {
		t.Errorf("%s rules table lists %v, want %v", docPath, rows, Rules())
	}
}
