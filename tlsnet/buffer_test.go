package tlsnet

import (
	"bytes"
	"testing"
)

func TestBuffer(t *testing.T) {
	const max = 10 << 10
	q := buffer{max: max}
	var want []byte // what q should hold
	full := 0
	for i := range 200 {
		chunk := pattern(i*97, (i*389)%(3<<10))
		n := q.push(chunk)
		if n != min(len(chunk), max-len(want)) {
			t.Fatalf("push %d bytes into %d queued: took %d", len(chunk), len(want), n)
		}
		want = append(want, chunk[:n]...)
		if q.room() == 0 {
			full++
		}
		if cap(q.b) > max {
			t.Fatalf("capacity %d beyond the bound %d", cap(q.b), max)
		}
		out := make([]byte, (i*211)%(2<<10))
		k := q.copyOut([][]byte{out[:len(out)/2], nil, out[len(out)/2:]})
		if k != min(len(out), len(want)) || !bytes.Equal(out[:k], want[:k]) {
			t.Fatalf("copyOut %d bytes: got %d, or other bytes", len(out), k)
		}
		q.pop(k)
		want = want[k:]
		if q.len() != len(want) || q.room() != max-len(want) || !bytes.Equal(q.bytes(), want) {
			t.Fatalf("round %d: %d queued, want %d", i, q.len(), len(want))
		}
	}
	if full == 0 {
		t.Error("the buffer never filled: the bound was not tested")
	}
}
