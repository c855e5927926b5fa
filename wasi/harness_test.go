//go:build linux

package wasi

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"donjon.dev/engine"
	"donjon.dev/wasi/hostfs"
)

// fakeMem is a guest memory made of a byte slice.
type fakeMem struct{ b []byte }

func (m *fakeMem) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m.b)) {
		return nil, false
	}
	return m.b[off : off+n : off+n], true
}

func (m *fakeMem) Size() uint32 { return uint32(len(m.b)) }

// exited is what fakeCaller.Exit panics with, as a real engine unwinds.
type exited struct{ code uint32 }

type fakeCaller struct{ mem engine.Memory }

func (c *fakeCaller) Memory() engine.Memory { return c.mem }
func (c *fakeCaller) Exit(code uint32)      { panic(exited{code}) }

// harness is a System with a fake guest: a 64 KiB memory with a bump
// allocator, and the host functions by name.
type harness struct {
	t     testing.TB
	s     *System
	mem   *fakeMem
	funcs map[string]engine.HostFunc
	top   uint32
	ctx   context.Context
	dir   string // the host directory preopened at fd 3 as "/"
}

const memSize = 1 << 16

// newHarness preopens a fresh temporary directory as "/" at fd 3, after
// Null stdin, stdout and stderr, then adds extra.
func newHarness(t testing.TB, extra ...FD) *harness {
	t.Helper()
	dir := t.TempDir()
	d, err := hostfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := append([]FD{Null(), Null(), Null(), Preopen("/", d)}, extra...)
	h := newHarnessConfig(t, Config{Args: []string{"prog"}, FDs: fds})
	h.dir = dir
	return h
}

func newHarnessConfig(t testing.TB, cfg Config) *harness {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := &harness{t: t, s: s, mem: &fakeMem{b: make([]byte, memSize)}, funcs: map[string]engine.HostFunc{}, top: 1024, ctx: context.Background()}
	for _, f := range s.Module().Funcs {
		h.funcs[f.Name] = f
	}
	return h
}

// call runs a host function and returns its errno.
func (h *harness) call(name string, args ...uint64) errno {
	h.t.Helper()
	f, ok := h.funcs[name]
	if !ok {
		h.t.Fatalf("no host function %s", name)
	}
	if len(args) != len(f.Params) {
		h.t.Fatalf("%s takes %d parameters, got %d", name, len(f.Params), len(args))
	}
	stack := make([]uint64, max(len(f.Params), len(f.Results), 1))
	copy(stack, args)
	f.Call(h.ctx, &fakeCaller{mem: h.mem}, stack)
	return errno(stack[0])
}

// want calls and fails the test unless the errno is want.
func (h *harness) want(want errno, name string, args ...uint64) {
	h.t.Helper()
	if got := h.call(name, args...); got != want {
		h.t.Fatalf("%s%v = %v, want %v", name, args, got, want)
	}
}

// ok calls and fails the test unless the call succeeds.
func (h *harness) ok(name string, args ...uint64) {
	h.t.Helper()
	h.want(errnoSuccess, name, args...)
}

// alloc reserves n bytes of guest memory, 8-aligned and zeroed.
func (h *harness) alloc(n uint32) uint32 {
	h.t.Helper()
	p := (h.top + 7) &^ 7
	if uint64(p)+uint64(n) > memSize {
		h.t.Fatal("fake guest memory exhausted")
	}
	h.top = p + n
	clear(h.mem.b[p : p+n])
	return p
}

// str copies s into guest memory: pointer and length, as call arguments.
func (h *harness) str(s string) (uint64, uint64) {
	p := h.alloc(uint32(len(s)))
	copy(h.mem.b[p:], s)
	return uint64(p), uint64(len(s))
}

// iovs builds an iovec array over bufs, which it places in guest memory,
// and returns the array's pointer and length and the buffers' pointers.
func (h *harness) iovs(bufs ...[]byte) (uint64, uint64, []uint32) {
	arr := h.alloc(uint32(len(bufs)) * iovecSize)
	ptrs := make([]uint32, len(bufs))
	for i, b := range bufs {
		p := h.alloc(uint32(len(b)))
		copy(h.mem.b[p:], b)
		ptrs[i] = p
		le.PutUint32(h.mem.b[arr+uint32(i)*8:], p)
		le.PutUint32(h.mem.b[arr+uint32(i)*8+4:], uint32(len(b)))
	}
	return uint64(arr), uint64(len(bufs)), ptrs
}

func (h *harness) u32(p uint32) uint32 { return le.Uint32(h.mem.b[p:]) }
func (h *harness) u64(p uint32) uint64 { return le.Uint64(h.mem.b[p:]) }
func (h *harness) bytes(p, n uint32) []byte {
	return append([]byte(nil), h.mem.b[p:p+n]...)
}

// bad is a pointer out of bounds of the fake memory.
const bad = uint64(memSize)

// open opens path in the preopen with the given oflags and rights and
// returns the new descriptor.
func (h *harness) open(path string, oflags uint32, base rights, fdflags uint32) uint32 {
	h.t.Helper()
	fd, errno := h.tryOpen(3, lookupSymlinkFollow, path, oflags, base, fdflags)
	if errno != errnoSuccess {
		h.t.Fatalf("path_open %q: %v", path, errno)
	}
	return fd
}

func (h *harness) tryOpen(dirfd, lookup uint32, path string, oflags uint32, base rights, fdflags uint32) (uint32, errno) {
	h.t.Helper()
	p, n := h.str(path)
	out := h.alloc(4)
	errno := h.call("path_open", uint64(dirfd), uint64(lookup), p, n, uint64(oflags), uint64(base), uint64(rightsAll), uint64(fdflags), uint64(out))
	return h.u32(out), errno
}

// hostPath is the host path of a path in the preopened directory.
func (h *harness) hostPath(path string) string { return filepath.Join(h.dir, path) }

func (h *harness) writeHost(path, content string) {
	h.t.Helper()
	if err := os.WriteFile(h.hostPath(path), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) readHost(path string) string {
	h.t.Helper()
	b, err := os.ReadFile(h.hostPath(path))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// write writes content to fd with fd_write and returns the errno and count.
func (h *harness) write(fd uint32, content string) (errno, uint32) {
	iov, n, _ := h.iovs([]byte(content))
	out := h.alloc(4)
	e := h.call("fd_write", uint64(fd), iov, n, uint64(out))
	return e, h.u32(out)
}

// read reads up to n bytes from fd with fd_read.
func (h *harness) read(fd uint32, n int) (errno, string) {
	iov, cnt, ptrs := h.iovs(make([]byte, n))
	out := h.alloc(4)
	e := h.call("fd_read", uint64(fd), iov, cnt, uint64(out))
	return e, string(h.bytes(ptrs[0], h.u32(out)))
}

// fdstat calls fd_fdstat_get and returns where the fdstat is.
func (h *harness) fdstat(fd uint32) uint32 {
	h.t.Helper()
	buf := h.alloc(fdstatSize)
	h.ok("fd_fdstat_get", uint64(fd), uint64(buf))
	return buf
}
