package wasi

import (
	"encoding/binary"

	"donjon.dev/engine"
)

// le is the byte order of WebAssembly memory.
var le = binary.LittleEndian

// guestMem is the caller's linear memory. Every pointer from the guest is
// checked here: out of bounds is a false, which callers turn into
// ERRNO_FAULT.
type guestMem struct {
	m engine.Memory
}

// view returns n bytes at off, aliasing guest memory. An empty view is
// valid anywhere, as a zero-length buffer never faults on Linux either.
func (g guestMem) view(off, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if g.m == nil {
		return nil, false
	}
	b, ok := g.m.Read(off, n)
	if !ok || uint32(len(b)) != n {
		return nil, false
	}
	return b, true
}

// array returns count elements of size bytes at off.
func (g guestMem) array(off, count, size uint32) ([]byte, bool) {
	n := uint64(count) * uint64(size)
	if n > 1<<32-1 {
		return nil, false
	}
	return g.view(off, uint32(n))
}

func (g guestMem) putU64(off uint32, v uint64) bool {
	b, ok := g.view(off, 8)
	if ok {
		le.PutUint64(b, v)
	}
	return ok
}
