// Package tomlkeys counts the keys of a TOML document cheaply, before a
// decoder whose cost grows with the square of their number sees it.
package tomlkeys

import (
	"bytes"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Overflow reports whether some table of the document names more than
// limit keys, or the document has more than limit [table] headers, and the
// line (1-based) where it went over. Each part of a dotted key, of a table
// header and of a key in an inline table counts, toward the table whose
// section ([header]) it appears in; array elements and repeated [[array]]
// headers do not. The TOML decoder looks for duplicates key by key, so its time
// grows with the square of the number of keys in a table; counting first
// keeps a hostile file from making a parser slow. A syntax error ends the
// count: the decoder then reports it.
func Overflow(data []byte, limit int) (line int, over bool) {
	var p unstable.Parser
	p.Reset(data)
	n, tables := 0, 0
	lineOf := func(node *unstable.Node) int {
		r := p.Range(node.Data)
		return bytes.Count(data[:r.Offset], []byte{'\n'}) + 1
	}
	var at *unstable.Node
	countKey := func(it unstable.Iterator) bool {
		for it.Next() {
			if n++; n > limit {
				at = it.Node()
				return true
			}
		}
		return false
	}
	var countValue func(v *unstable.Node) bool
	countValue = func(v *unstable.Node) bool {
		if v.Kind != unstable.Array && v.Kind != unstable.InlineTable {
			return false
		}
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.KeyValue {
				if countKey(c.Key()) || countValue(c.Value()) {
					return true
				}
			} else if countValue(c) {
				return true
			}
		}
		return false
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			n = 0 // a new section: its own table
			if e.Kind == unstable.Table {
				// Distinct tables are keys of their parents.
				if tables++; tables > limit {
					it := e.Key()
					it.Next()
					return lineOf(it.Node()), true
				}
			}
			if countKey(e.Key()) {
				return lineOf(at), true
			}
			n = 0
		case unstable.KeyValue:
			if countKey(e.Key()) || countValue(e.Value()) {
				return lineOf(at), true
			}
		}
	}
	return 0, false
}
