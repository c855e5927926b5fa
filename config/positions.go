package config

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The TOML decoder gives values without positions, so the file is walked a
// second time with go-toml's low-level parser to learn where every key and
// value is. That walk only runs on documents the decoder accepted.

// pos is a place in the file: 1-based line, 1-based column in characters.
type pos struct{ line, col int }

// Positions are kept as byte offsets (noPos when unknown) and only turned
// into lines and columns for the one error reported: counting the
// characters before an offset costs the length of its line, and a hostile
// file can put thousands of keys on one long line.
const noPos = -1

// keyPath names a key or an array element in the document. Keys are stored
// Go-quoted and indexes as "[n]", so joining the elements is unambiguous
// whatever characters the keys hold.
type keyPath []string

func (p keyPath) key(k string) keyPath {
	return append(p[:len(p):len(p)], strconv.Quote(k))
}

func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], "["+strconv.Itoa(i)+"]")
}

func (p keyPath) String() string { return strings.Join(p, ".") }

// maxIndexDepth bounds the paths the index records. The schema is at most
// three levels deep (files[i].port); anything deeper is reported at a
// shallower key, and recording it would let a key with a million dots cost
// quadratic time.
const maxIndexDepth = 4

// index maps paths to positions in one document.
type index struct {
	lineStarts []int // byte offset where each line begins
	data       []byte
	keys       map[string]int // offset of a key, table header or array element
	values     map[string]int // offset where a value begins
}

type keyPart struct {
	name string
	at   int // offset
}

// buildIndex walks a document the TOML decoder has already accepted.
func buildIndex(data []byte) *index {
	ix := &index{
		data:       data,
		lineStarts: lineStarts(data),
		keys:       make(map[string]int),
		values:     make(map[string]int),
	}

	var p unstable.Parser
	p.Reset(data)
	arrays := make(map[string]int) // array-of-tables path -> elements so far
	var current keyPath            // the table that key/values go into
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			parts := ix.keyParts(e)
			current = ix.resolve(nil, parts, arrays)
		case unstable.ArrayTable:
			parts := ix.keyParts(e)
			last := len(parts) - 1
			arr := ix.resolve(nil, parts[:last], arrays)
			if len(arr) >= maxIndexDepth {
				current = arr
				continue
			}
			arr = arr.key(parts[last].name)
			ix.noteKey(arr, parts[last].at)
			n := arrays[arr.String()]
			arrays[arr.String()] = n + 1
			current = arr.index(n)
			ix.noteKey(current, parts[last].at)
		case unstable.KeyValue:
			ix.keyValue(current, e)
		}
	}
	return ix
}

// resolve turns header key parts into a concrete path, recording where each
// table is first named. As in TOML, naming an array of tables refers to its
// last element.
func (ix *index) resolve(base keyPath, parts []keyPart, arrays map[string]int) keyPath {
	p := base
	for _, k := range parts {
		if len(p) >= maxIndexDepth {
			return p
		}
		p = p.key(k.name)
		ix.noteKey(p, k.at)
		if n := arrays[p.String()]; n > 0 {
			p = p.index(n - 1)
		}
	}
	return p
}

// keyValue records a key/value expression (top-level or in an inline table)
// and everything inside its value.
func (ix *index) keyValue(base keyPath, kv *unstable.Node) {
	p := base
	for _, k := range ix.keyParts(kv) {
		if len(p) >= maxIndexDepth {
			return
		}
		p = p.key(k.name)
		ix.noteKey(p, k.at)
	}
	v := kv.Value()
	ix.noteValue(p, ix.valueStart(kv))
	ix.walkValue(p, v)
}

func (ix *index) walkValue(p keyPath, v *unstable.Node) {
	if len(p) >= maxIndexDepth {
		return
	}
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			elem := p.index(i)
			i++
			at := ix.nodePos(c, ix.valuePos(p))
			ix.noteKey(elem, at)
			ix.noteValue(elem, at)
			ix.walkValue(elem, c)
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.keyValue(p, c)
			}
		}
	}
}

func (ix *index) keyParts(n *unstable.Node) []keyPart {
	var parts []keyPart
	for it := n.Key(); it.Next(); {
		k := it.Node()
		parts = append(parts, keyPart{name: string(k.Data), at: ix.nodePos(k, noPos)})
	}
	return parts
}

// nodePos is where a node starts, or def when the parser kept no range for
// it (arrays have none).
func (ix *index) nodePos(n *unstable.Node, def int) int {
	if n.Raw.Length == 0 {
		return def
	}
	return int(n.Raw.Offset)
}

// valueStart is where the value of a key/value expression starts. Array
// values carry no range, so for them it is found after the key and the '='.
func (ix *index) valueStart(kv *unstable.Node) int {
	if v := kv.Value(); v.Raw.Length > 0 {
		return int(v.Raw.Offset)
	}
	end := noPos
	for it := kv.Key(); it.Next(); {
		if r := it.Node().Raw; r.Length > 0 {
			end = int(r.Offset + r.Length)
		}
	}
	if end == noPos {
		return noPos
	}
	for end < len(ix.data) && (ix.data[end] == ' ' || ix.data[end] == '\t' || ix.data[end] == '=') {
		end++
	}
	return end
}

// offsetPos converts a byte offset into a line and a column in characters.
func (ix *index) offsetPos(offset int) pos {
	if offset == noPos {
		return pos{}
	}
	offset = min(max(offset, 0), len(ix.data))
	line := sort.Search(len(ix.lineStarts), func(i int) bool { return ix.lineStarts[i] > offset })
	start := ix.lineStarts[line-1]
	return pos{line: line, col: utf8.RuneCount(ix.data[start:offset]) + 1}
}

// lineColPos converts the decoder's line and byte column to a character column.
func (ix *index) lineColPos(line, byteCol int) pos {
	if line < 1 || line > len(ix.lineStarts) {
		return pos{line: line}
	}
	return ix.offsetPos(ix.lineStarts[line-1] + byteCol - 1)
}

// noteKey records the first place a path is named: for a table defined in
// pieces, the first piece is where a reader would look.
func (ix *index) noteKey(p keyPath, at int) {
	if at == noPos {
		return
	}
	if _, ok := ix.keys[p.String()]; !ok {
		ix.keys[p.String()] = at
	}
}

func (ix *index) noteValue(p keyPath, at int) {
	if at == noPos {
		return
	}
	if _, ok := ix.values[p.String()]; !ok {
		ix.values[p.String()] = at
	}
}

// keyPos is where a path is named, or failing that where its closest
// recorded ancestor is.
func (ix *index) keyPos(p keyPath) int {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if at, ok := ix.keys[p.String()]; ok {
			return at
		}
	}
	return noPos
}

// valuePos is where the value of a path begins, or failing that where it is
// named.
func (ix *index) valuePos(p keyPath) int {
	if at, ok := ix.values[p.String()]; ok {
		return at
	}
	return ix.keyPos(p)
}
