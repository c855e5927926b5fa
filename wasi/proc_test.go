//go:build linux

package wasi

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"donjon.dev/engine"
)

func TestNewValidates(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Args: []string{"a\x00b"}}, "argument[0] contains a NUL byte"},
		{Config{Env: []string{"A=1", "B"}}, "environment variable[1]"},
		{Config{Env: []string{"=1"}}, "is not KEY=VALUE"},
		{Config{Env: []string{"A=\x00"}}, "NUL"},
		{Config{FDs: []FD{Null(), {}}}, "fd 1 is an empty FD"},
		{Config{FDs: []FD{Preopen("", nil)}}, "fd 0: preopen of a nil directory"},
		{Config{FDs: []FD{Preopen("", &fakeDir{})}}, "empty guest path"},
		{Config{FDs: []FD{Preopen("a\x00", &fakeDir{})}}, "NUL byte"},
		{Config{FDs: []FD{Socket(nil)}}, "socket is nil"},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
	n := Null()
	if _, err := New(Config{FDs: []FD{n, n}}); err == nil || !strings.Contains(err.Error(), "fds 0 and 1 are the same FD") {
		t.Errorf("reused FD: %v", err)
	}
}

func TestArgsEnviron(t *testing.T) {
	h := newHarnessConfig(t, Config{
		Args: []string{"prog", "", "two words", "ünïcode"},
		Env:  []string{"A=1", "EMPTY=", "B=x=y"},
	})
	for _, fn := range []struct {
		sizes, get string
		want       []string
	}{
		{"args_sizes_get", "args_get", []string{"prog", "", "two words", "ünïcode"}},
		{"environ_sizes_get", "environ_get", []string{"A=1", "EMPTY=", "B=x=y"}},
	} {
		count, size := h.alloc(4), h.alloc(4)
		h.ok(fn.sizes, uint64(count), uint64(size))
		wantSize := 0
		for _, s := range fn.want {
			wantSize += len(s) + 1
		}
		if h.u32(count) != uint32(len(fn.want)) || h.u32(size) != uint32(wantSize) {
			t.Fatalf("%s: %d strings of %d bytes, want %d and %d", fn.sizes, h.u32(count), h.u32(size), len(fn.want), wantSize)
		}
		ptrs, buf := h.alloc(h.u32(count)*4), h.alloc(h.u32(size))
		h.ok(fn.get, uint64(ptrs), uint64(buf))
		for i, want := range fn.want {
			p := h.u32(ptrs + uint32(i)*4)
			got := h.bytes(p, uint32(len(want)+1))
			if string(got) != want+"\x00" {
				t.Errorf("%s[%d] = %q, want %q", fn.get, i, got, want)
			}
		}
		// Every pointer is checked, and nothing is written on a fault.
		h.want(errnoFault, fn.sizes, bad, uint64(size))
		h.want(errnoFault, fn.sizes, uint64(count), bad)
		h.want(errnoFault, fn.get, bad, uint64(buf))
		h.want(errnoFault, fn.get, uint64(ptrs), bad)
		h.want(errnoFault, fn.get, uint64(ptrs), memSize-uint64(wantSize)+1)
	}
}

func TestEmptyArgsEnviron(t *testing.T) {
	h := newHarnessConfig(t, Config{})
	count, size := h.alloc(4), h.alloc(4)
	le.PutUint32(h.mem.b[count:], 99)
	h.ok("environ_sizes_get", uint64(count), uint64(size))
	if h.u32(count) != 0 || h.u32(size) != 0 {
		t.Errorf("empty environment: %d strings, %d bytes", h.u32(count), h.u32(size))
	}
	// Nothing to write: any pointers do.
	h.ok("environ_get", bad, bad)
}

func TestClocks(t *testing.T) {
	h := newHarnessConfig(t, Config{})
	res := h.alloc(8)
	for _, id := range []uint32{clockRealtime, clockMonotonic, clockProcessCPUTime} {
		h.ok("clock_res_get", uint64(id), uint64(res))
		if r := h.u64(res); r == 0 || r > 1e9 {
			t.Errorf("clock %d: resolution %d ns", id, r)
		}
		h.want(errnoFault, "clock_res_get", uint64(id), bad)
	}
	h.want(errnoNotsup, "clock_res_get", uint64(clockThreadCPUTime), uint64(res))
	h.want(errnoInval, "clock_res_get", 4, uint64(res))

	t1, t2 := h.alloc(8), h.alloc(8)
	h.ok("clock_time_get", uint64(clockMonotonic), 0, uint64(t1))
	h.ok("clock_time_get", uint64(clockMonotonic), 1, uint64(t2))
	if h.u64(t2) < h.u64(t1) {
		t.Errorf("monotonic clock went back: %d then %d", h.u64(t1), h.u64(t2))
	}
	h.ok("clock_time_get", uint64(clockRealtime), 0, uint64(t1))
	if h.u64(t1) < 1.6e18 { // 2020
		t.Errorf("realtime clock at %d", h.u64(t1))
	}
	h.ok("clock_time_get", uint64(clockProcessCPUTime), 0, uint64(t1))
	h.want(errnoNotsup, "clock_time_get", uint64(clockThreadCPUTime), 0, uint64(t1))
	h.want(errnoInval, "clock_time_get", 1<<31, 0, uint64(t1))
	h.want(errnoFault, "clock_time_get", uint64(clockRealtime), 0, bad)
}

func TestRandomGet(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789"), 10)
	h := newHarnessConfig(t, Config{Rand: bytes.NewReader(src)})
	buf := h.alloc(25)
	h.ok("random_get", uint64(buf), 25)
	if got := h.bytes(buf, 25); !bytes.Equal(got, src[:25]) {
		t.Errorf("random_get read %q, want the reader's %q", got, src[:25])
	}
	h.ok("random_get", bad, 0) // zero bytes: no pointer to check
	h.want(errnoFault, "random_get", bad, 8)
	h.want(errnoFault, "random_get", uint64(buf), memSize)

	failing := newHarnessConfig(t, Config{Rand: iotest.ErrReader(errors.New("no entropy"))})
	failing.want(errnoIo, "random_get", uint64(failing.alloc(4)), 4)

	// The default source is crypto/rand.
	d := newHarnessConfig(t, Config{})
	p := d.alloc(64)
	d.ok("random_get", uint64(p), 64)
	if bytes.Equal(d.bytes(p, 64), make([]byte, 64)) {
		t.Error("64 random bytes are all zero")
	}
}

func TestProcExitRaiseYield(t *testing.T) {
	h := newHarnessConfig(t, Config{})
	func() {
		defer func() {
			if r := recover(); r != (exited{code: 42}) {
				t.Errorf("proc_exit(42) unwound with %v", r)
			}
		}()
		h.call("proc_exit", 42)
		t.Error("proc_exit returned")
	}()
	h.want(errnoNosys, "proc_raise", 9)
	h.ok("sched_yield")
}

func TestModuleSignatures(t *testing.T) {
	h := newHarnessConfig(t, Config{})
	if got := h.s.Module().Name; got != "wasi_snapshot_preview1" {
		t.Errorf("module name %q", got)
	}
	// Every function of wasi_snapshot_preview1.witx, with its core
	// signature: "i" for i32, "I" for i64, results after the arrow.
	want := map[string]string{
		"args_get": "ii>i", "args_sizes_get": "ii>i", "environ_get": "ii>i", "environ_sizes_get": "ii>i",
		"clock_res_get": "ii>i", "clock_time_get": "iIi>i", "fd_advise": "iIIi>i", "fd_allocate": "iII>i",
		"fd_close": "i>i", "fd_datasync": "i>i", "fd_fdstat_get": "ii>i", "fd_fdstat_set_flags": "ii>i",
		"fd_fdstat_set_rights": "iII>i", "fd_filestat_get": "ii>i", "fd_filestat_set_size": "iI>i",
		"fd_filestat_set_times": "iIIi>i", "fd_pread": "iiiIi>i", "fd_prestat_get": "ii>i",
		"fd_prestat_dir_name": "iii>i", "fd_pwrite": "iiiIi>i", "fd_read": "iiii>i",
		"fd_readdir": "iiiIi>i", "fd_renumber": "ii>i", "fd_seek": "iIii>i", "fd_sync": "i>i",
		"fd_tell": "ii>i", "fd_write": "iiii>i", "path_create_directory": "iii>i",
		"path_filestat_get": "iiiii>i", "path_filestat_set_times": "iiiiIIi>i",
		"path_link": "iiiiiii>i", "path_open": "iiiiiIIii>i", "path_readlink": "iiiiii>i",
		"path_remove_directory": "iii>i", "path_rename": "iiiiii>i", "path_symlink": "iiiii>i",
		"path_unlink_file": "iii>i", "poll_oneoff": "iiii>i", "proc_exit": "i>", "proc_raise": "i>i",
		"sched_yield": ">i", "random_get": "ii>i", "sock_accept": "iii>i", "sock_recv": "iiiiii>i",
		"sock_send": "iiiii>i", "sock_shutdown": "ii>i",
	}
	if len(h.funcs) != len(want) {
		t.Errorf("%d functions, want %d", len(h.funcs), len(want))
	}
	for name, sig := range want {
		f, ok := h.funcs[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		var b strings.Builder
		for _, p := range f.Params {
			b.WriteString(map[engine.ValType]string{engine.I32: "i", engine.I64: "I"}[p])
		}
		b.WriteString(">")
		for _, r := range f.Results {
			b.WriteString(map[engine.ValType]string{engine.I32: "i", engine.I64: "I"}[r])
		}
		if b.String() != sig {
			t.Errorf("%s: signature %s, want %s", name, b.String(), sig)
		}
	}
}
