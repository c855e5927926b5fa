package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func uniq(f string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, f, i)
	}
	return b.String()
}

func TestZZSlow(t *testing.T) {
	for _, n := range []int{100000} {
		for name, s := range map[string]string{
			"many unknown keys":   uniq("k%d=1\n", n),
			"many unknown inline": "snp.min_tcb = {" + uniq("k%d=1,", n) + "b=1}\n",
			"many tables":         uniq("[k%d]\n", n),
			"many unknown tables": uniq("[snp.k%d]\nb=1\n", n),
			"long dotted":         strings.Repeat("a.", n*5) + "b = 1\n",
			"many elements":       "platforms = [" + strings.Repeat("\"snp\",", 150000) + "]\n",
			"many bad modules":    "[workload]\nmodules = [" + strings.Repeat("\"ab\",", 150000) + "]\n",
			"many good modules":   "[workload]\nmodules = [" + uniq("\"%064x\",", 14000) + "]\n",
			"deep inline":         "x = " + strings.Repeat("{a=", 100000) + "1" + strings.Repeat("}", 100000) + "\n",
			"deep array":          "x = " + strings.Repeat("[", 300000) + strings.Repeat("]", 300000) + "\n",
		} {
			start := time.Now()
			_, err := Parse([]byte(s), "x")
			e := ""
			if err != nil {
				e = err.Error()
				if len(e) > 100 {
					e = e[:100]
				}
			}
			t.Logf("%s: %d bytes %v: %s", name, len(s), time.Since(start), e)
		}
	}
}
