package policy

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The decoder gives values without positions, so a valid document is walked
// again with go-toml's low-level parser to learn where each key, value and
// array element is, and which key or value is at a given place (the
// decoder's own key for an error inside an inline table leaves the inline
// table out).

const noPos = -1

// maxDepth bounds the paths recorded: the schema is three deep
// (snp.min_tcb.tee), and a hostile key with a million dots must not cost
// quadratic time.
const maxDepth = 4

// index maps dotted paths ("snp.min_tcb.tee", "workload.modules[2]") to the
// byte offset of their value, or of their key when the value has no range,
// and offsets of keys and values back to paths.
type index struct {
	data       []byte
	lineStarts []int
	at         map[string]int   // where a path's value is, or failing that its key
	keys       map[string]int   // where a path's key is
	paths      map[int][]string // offsets of values and array elements
	exprs      map[int][]string // offsets where a key/value's or a header's key starts
}

func newIndex(data []byte) *index {
	ix := &index{data: data, lineStarts: lineStarts(data), at: map[string]int{}, keys: map[string]int{}, paths: map[int][]string{}, exprs: map[int][]string{}}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = ix.keyPath(nil, e.Key())
			ix.noteExpr(e, table)
		case unstable.KeyValue:
			ix.keyValue(table, e)
		}
	}
	return ix
}

// keyPath appends a key's parts to base, noting where each prefix is named.
func (ix *index) keyPath(base []string, it unstable.Iterator) []string {
	path := base[:len(base):len(base)]
	for it.Next() && len(path) < maxDepth {
		k := it.Node()
		path = append(path, string(k.Data))
		ix.note(path, k)
	}
	return path
}

func (ix *index) keyValue(table []string, kv *unstable.Node) {
	if len(table) >= maxDepth {
		return
	}
	path := ix.keyPath(table, kv.Key())
	ix.noteExpr(kv, path)
	v := kv.Value()
	if v.Raw.Length > 0 {
		// A value with a range is a better place to point than its key.
		ix.at[strings.Join(path, ".")] = int(v.Raw.Offset)
		ix.paths[int(v.Raw.Offset)] = path
	}
	switch v.Kind {
	case unstable.Array:
		last := len(path) - 1
		i := 0
		for it := v.Children(); it.Next(); i++ {
			c := it.Node()
			if c.Kind == unstable.Comment {
				i--
				continue
			}
			elem := append(path[:last:last], path[last]+"["+strconv.Itoa(i)+"]")
			ix.note(elem, c)
			if c.Raw.Length > 0 {
				ix.paths[int(c.Raw.Offset)] = elem
			}
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.keyValue(path, c)
			}
		}
	}
}

// note records the first place a path appears.
func (ix *index) note(path []string, n *unstable.Node) {
	if n.Raw.Length == 0 {
		return
	}
	key := strings.Join(path, ".")
	if _, ok := ix.at[key]; !ok {
		ix.at[key] = int(n.Raw.Offset)
	}
	if _, ok := ix.keys[key]; !ok {
		ix.keys[key] = int(n.Raw.Offset)
	}
}

// noteExpr records the full path of an expression at the start of its key,
// where the decoder points for an unknown key.
func (ix *index) noteExpr(n *unstable.Node, path []string) {
	it := n.Key()
	if it.Next() && it.Node().Raw.Length > 0 {
		ix.exprs[int(it.Node().Raw.Offset)] = path
	}
}

// keyAt is the full path of the key that starts at a line and byte column
// (as the decoder reports them), or nil.
func (ix *index) keyAt(line, byteCol int) []string {
	return ix.exprs[ix.byteOffset(line, byteCol)]
}

// valueAt is the path of the value or array element at a line and byte
// column, or nil.
func (ix *index) valueAt(line, byteCol int) []string {
	return ix.paths[ix.byteOffset(line, byteCol)]
}

func (ix *index) byteOffset(line, byteCol int) int {
	if line < 1 || line > len(ix.lineStarts) {
		return noPos
	}
	return ix.lineStarts[line-1] + byteCol - 1
}

// charCol converts the decoder's byte column on a line to characters.
func (ix *index) charCol(line, byteCol int) int {
	if line < 1 || line > len(ix.lineStarts) || byteCol < 1 {
		return 0
	}
	start := ix.lineStarts[line-1]
	end := min(start+byteCol-1, len(ix.data))
	return utf8.RuneCount(ix.data[start:end]) + 1
}

// offset is where path is, or failing that its closest recorded parent
// ("workload.modules[1]" falls back to "workload.modules", then "workload").
func (ix *index) offset(path string) int {
	for {
		if at, ok := ix.at[path]; ok {
			return at
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return noPos
		}
		path = path[:i]
	}
}

// keyOffset is where path's key is first named, or failing that offset(path).
func (ix *index) keyOffset(path string) int {
	if at, ok := ix.keys[path]; ok {
		return at
	}
	return ix.offset(path)
}

// lineCol converts a byte offset to a 1-based line and character column;
// noPos gives 0, 0.
func (ix *index) lineCol(offset int) (line, col int) {
	if offset == noPos {
		return 0, 0
	}
	offset = min(max(offset, 0), len(ix.data))
	line = sort.Search(len(ix.lineStarts), func(i int) bool { return ix.lineStarts[i] > offset })
	return line, utf8.RuneCount(ix.data[ix.lineStarts[line-1]:offset]) + 1
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
