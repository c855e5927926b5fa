package tomlkeys

import (
	"fmt"
	"strings"
	"testing"
)

func TestOverflow(t *testing.T) {
	keys := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "k%d = 1\n", i)
		}
		return b.String()
	}
	tables := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "[t%d]\nk = 1\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		doc  string
		line int // 0: within the limit
	}{
		{"10 keys", keys(10), 0},
		{"11 keys", keys(11), 11},
		{"11 keys in a table", "[env]\n" + keys(11), 12},
		{"10 keys in each of 2 tables", "[a]\n" + keys(10) + "[b]\n" + keys(10), 0},
		{"11 tables", tables(11), 21},
		{"many array tables", strings.Repeat("[[files]]\nkind = 1\n", 100), 0},
		{"long dotted key", strings.Repeat("a.", 20) + "a = 1\n", 1},
		{"inline table", "x = {" + strings.Repeat("a=1,", 5) + "b={" + strings.Repeat("c=1,", 5) + "d=1}}\n", 1},
		{"syntax error", "[[[\n" + keys(20), 0},
	} {
		line, over := Overflow([]byte(tc.doc), 10)
		if over != (tc.line != 0) || line != tc.line {
			t.Errorf("%s: Overflow = line %d, %t; want line %d", tc.name, line, over, tc.line)
		}
	}
}
