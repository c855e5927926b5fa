package wazero

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxLocals bounds the locals one function may declare, as other engines
// do (wasmtime allows 50,000).
const maxLocals = 50000

// precheck walks the parts of a module whose counts wazero v1.12.0 uses to
// size allocations before it has checked them against the bytes present:
// a 90-byte module declaring 2^32 parameters makes it allocate 32 GiB and
// kills the process, a 60-byte one declaring 10^8 exports takes 3.6 GiB
// (both found by FuzzCompile). A vector of n entries needs at least n
// bytes, and locals are bounded; everything else is left to wazero's own
// validation.
func precheck(wasm []byte) error {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return errors.New("not a WebAssembly module (no \\0asm header)")
	}
	r := reader{b: wasm[8:]}
	for r.len() > 0 {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.u32()
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		body, err := r.bytes(size)
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		switch {
		case id == 0:
			err = checkCustom(reader{b: body})
		case id == 1:
			err = checkTypes(reader{b: body})
		case id == 10:
			err = checkCode(reader{b: body})
		case id <= 11:
			// Every other standard section is one vector.
			br := reader{b: body}
			_, err = br.count()
		case id == 12:
			// The data count: no module has more segments than bytes.
			br := reader{b: body}
			var n uint32
			if n, err = br.u32(); err == nil && uint64(n) > uint64(len(wasm)) {
				err = fmt.Errorf("data count %d is over the module's size", n)
			}
		}
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
	}
	return nil
}

// checkCustom bounds the vectors of the "name" section, which wazero
// decodes; other custom sections are opaque to it.
func checkCustom(r reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	name, err := r.bytes(n)
	if err != nil || string(name) != "name" {
		return err
	}
	for r.len() > 0 {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		sub, err := r.bytes(size)
		if err != nil {
			return err
		}
		sr := reader{b: sub}
		count, err := sr.count()
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
		if id != 2 { // local names: a vector of vectors
			continue
		}
		for range count {
			if _, err := sr.u32(); err != nil {
				return err
			}
			k, err := sr.count()
			if err != nil {
				return fmt.Errorf("local names: %w", err)
			}
			for range k {
				if _, err := sr.u32(); err != nil {
					return err
				}
				l, err := sr.u32()
				if err != nil {
					return err
				}
				if _, err := sr.bytes(l); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkTypes(r reader) error {
	n, err := r.count()
	if err != nil {
		return err
	}
	for range n {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return nil // not a plain function type: wazero decides
		}
		for range 2 { // params, then results
			k, err := r.count()
			if err != nil {
				return err
			}
			if _, err := r.bytes(k); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCode(r reader) error {
	n, err := r.count()
	if err != nil {
		return err
	}
	for i := range n {
		size, err := r.u32()
		if err != nil {
			return err
		}
		body, err := r.bytes(size)
		if err != nil {
			return err
		}
		fr := reader{b: body}
		decls, err := fr.count()
		if err != nil {
			return fmt.Errorf("function %d: %w", i, err)
		}
		var locals uint64
		for range decls {
			k, err := fr.u32()
			if err != nil {
				return fmt.Errorf("function %d: %w", i, err)
			}
			if _, err := fr.byte(); err != nil {
				return fmt.Errorf("function %d: %w", i, err)
			}
			if locals += uint64(k); locals > maxLocals {
				return fmt.Errorf("function %d declares over %d locals", i, maxLocals)
			}
		}
	}
	return nil
}

type reader struct{ b []byte }

var errTruncated = errors.New("truncated")

func (r *reader) len() int { return len(r.b) }

func (r *reader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errTruncated
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *reader) u32() (uint32, error) {
	v, n := binary.Uvarint(r.b[:min(len(r.b), 5)])
	if n <= 0 || v > 0xffffffff {
		return 0, errors.New("bad LEB128 integer")
	}
	r.b = r.b[n:]
	return uint32(v), nil
}

// count reads a vector length, which cannot exceed the bytes left since
// every entry takes at least one.
func (r *reader) count() (uint32, error) {
	n, err := r.u32()
	if err == nil && uint64(n) > uint64(len(r.b)) {
		err = fmt.Errorf("vector of %d entries in %d bytes", n, len(r.b))
	}
	return n, err
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)) {
		return nil, errTruncated
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b, nil
}
