package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a problem found in a config file or in a command-line flag value.
// Callers can inspect it with errors.As.
type Error struct {
	// File is the config file name given to Parse, or the flag name
	// ("--dir") for flag values.
	File string
	// Line is 1-based. It is 0 when the problem is not tied to one place in
	// a file: a whole-file problem, a flag value, or a Config built in code.
	Line int
	// Column is 1-based and counted in characters; 0 when unknown.
	Column int
	// Msg says what is wrong and how to fix it, on one line.
	Msg string
	// Err is the underlying error, if any (a TOML decoder error, say).
	Err error
}

// Error formats the error as FILE:LINE:COLUMN: MSG, leaving out the parts
// that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// maxQuoted bounds how much of an untrusted string is echoed in a message,
// so a megabyte-long value does not become a megabyte-long error.
const maxQuoted = 64

// quote renders an untrusted string for a message: Go-quoted (so control
// characters and newlines cannot break the one-line rule) and shortened.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		runes := []rune(s)
		s = string(runes[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

// oneLine flattens a message from another library into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// suggest returns the candidate closest to key when it is close enough to be
// a likely typo, or "".
func suggest(key string, candidates []string) string {
	if len(key) > 2*maxQuoted {
		return ""
	}
	lower := strings.ToLower(key)
	best, bestDist := "", 3
	for _, c := range candidates {
		d := editDistance(lower, c)
		// A short candidate is "close" to anything short; require that some
		// of it survives.
		if d < bestDist && d < len(c) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of adjacent characters each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rolling rows: the one before the previous, the previous, the current.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// list joins words as "a, b and c".
func list(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
