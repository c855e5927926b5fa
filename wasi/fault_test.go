//go:build linux

package wasi

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestFaults calls every function that takes a guest pointer with each
// pointer in turn out of bounds: the result is FAULT and nothing happens.
// Then the same call with valid pointers succeeds, which shows that the
// fault was the pointer's doing.
func TestFaults(t *testing.T) {
	l, conn := &fakeSocket{}, &fakeSocket{}
	h := newHarness(t, Socket(l))
	h.s.env = mustStrtab(t, "K=V")
	// If a faulting sock_accept took the only connection, the valid one
	// would wait for another: not forever.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.ctx = ctx
	for _, name := range []string{"f", "rename-me", "unlink-me"} {
		h.writeHost(name, "content")
	}
	os.Mkdir(h.hostPath("rmdir-me"), 0o755)
	os.Symlink("f", h.hostPath("l"))
	file := uint64(h.open("f", 0, rw, 0)) // fd 5
	l.queue(conn)
	conn.feed("data", false)

	p := func(n uint32) uint64 { return uint64(h.alloc(n)) }
	str := func(s string) uint64 { ptr, _ := h.str(s); return ptr }
	iov, _, _ := h.iovs(make([]byte, 4))
	subs := h.alloc(subscriptionSize)
	h.mem.b[subs+8] = eventClock
	le.PutUint32(h.mem.b[subs+16:], clockMonotonic)

	cases := []struct {
		name string
		args []uint64
		ptrs []int // indices of the pointer arguments
	}{
		{"sock_accept", []uint64{4, 0, p(4)}, []int{2}}, // first: the connection is fd 6
		{"args_get", []uint64{p(8), p(8)}, []int{0, 1}},
		{"args_sizes_get", []uint64{p(4), p(4)}, []int{0, 1}},
		{"environ_get", []uint64{p(8), p(8)}, []int{0, 1}},
		{"environ_sizes_get", []uint64{p(4), p(4)}, []int{0, 1}},
		{"clock_res_get", []uint64{1, p(8)}, []int{1}},
		{"clock_time_get", []uint64{0, 0, p(8)}, []int{2}},
		{"fd_fdstat_get", []uint64{file, p(24)}, []int{1}},
		{"fd_filestat_get", []uint64{file, p(64)}, []int{1}},
		{"fd_pread", []uint64{file, iov, 1, 0, p(4)}, []int{1, 4}},
		{"fd_pwrite", []uint64{file, iov, 1, 0, p(4)}, []int{1, 4}},
		{"fd_prestat_get", []uint64{3, p(8)}, []int{1}},
		{"fd_prestat_dir_name", []uint64{3, p(8), 8}, []int{1}},
		{"fd_read", []uint64{file, iov, 1, p(4)}, []int{1, 3}},
		{"fd_write", []uint64{file, iov, 1, p(4)}, []int{1, 3}},
		{"fd_readdir", []uint64{3, p(256), 256, 0, p(4)}, []int{1, 4}},
		{"fd_seek", []uint64{file, 0, 0, p(8)}, []int{3}},
		{"fd_tell", []uint64{file, p(8)}, []int{1}},
		{"path_create_directory", []uint64{3, str("new"), 3}, []int{1}},
		{"path_filestat_get", []uint64{3, 0, str("f"), 1, p(64)}, []int{2, 4}},
		{"path_filestat_set_times", []uint64{3, 0, str("f"), 1, 0, 0, uint64(fstMtimNow)}, []int{2}},
		{"path_link", []uint64{3, 0, str("f"), 1, 3, str("linked"), 6}, []int{2, 5}},
		{"path_open", []uint64{3, 0, str("f"), 1, 0, uint64(rightFdRead), 0, 0, p(4)}, []int{2, 8}},
		{"path_readlink", []uint64{3, str("l"), 1, p(16), 16, p(4)}, []int{1, 3, 5}},
		{"path_remove_directory", []uint64{3, str("rmdir-me"), 8}, []int{1}},
		{"path_rename", []uint64{3, str("rename-me"), 9, 3, str("renamed"), 7}, []int{1, 4}},
		{"path_symlink", []uint64{str("f"), 1, 3, str("symlinked"), 9}, []int{0, 3}},
		{"path_unlink_file", []uint64{3, str("unlink-me"), 9}, []int{1}},
		{"poll_oneoff", []uint64{uint64(subs), p(eventSize), 1, p(4)}, []int{0, 1, 3}},
		{"random_get", []uint64{p(16), 16}, []int{0}},
		{"sock_recv", []uint64{6, iov, 1, 0, p(4), p(2)}, []int{1, 4, 5}},
		{"sock_send", []uint64{6, iov, 1, 0, p(4)}, []int{1, 4}},
	}
	checked := map[string]bool{}
	for _, c := range cases {
		checked[c.name] = true
		for _, i := range c.ptrs {
			args := append([]uint64(nil), c.args...)
			args[i] = bad
			if got := h.call(c.name, args...); got != errnoFault {
				t.Errorf("%s with argument %d out of bounds: %v, want FAULT", c.name, i, got)
			}
		}
		if got := h.call(c.name, c.args...); got != errnoSuccess {
			t.Errorf("%s with valid pointers: %v", c.name, got)
		}
	}
	// Every function with a pointer parameter is here.
	for _, name := range []string{"fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_set_flags",
		"fd_fdstat_set_rights", "fd_filestat_set_size", "fd_filestat_set_times", "fd_renumber", "fd_sync",
		"proc_exit", "proc_raise", "sched_yield", "sock_shutdown"} {
		checked[name] = true
	}
	for name := range h.funcs {
		if !checked[name] {
			t.Errorf("%s is not checked", name)
		}
	}
	// The valid calls did their work: the faulting ones did not do it first.
	for name, want := range map[string]bool{"new": true, "linked": true, "renamed": true, "symlinked": true,
		"rename-me": false, "unlink-me": false, "rmdir-me": false} {
		if exists(h.hostPath(name)) != want {
			t.Errorf("%s exists: %v, want %v", name, !want, want)
		}
	}
}

func mustStrtab(t *testing.T, ss ...string) strtab {
	t.Helper()
	st, err := newStrtab("test", ss, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
