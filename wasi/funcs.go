//go:build linux

package wasi

import (
	"context"

	"donjon.dev/engine"
)

// hostCall is a host function body: it decodes its parameters from stack
// and returns the errno the guest receives.
type hostCall func(ctx context.Context, m guestMem, stack []uint64) errno

// funcs lists every preview 1 function with its core wasm signature.
func (s *System) funcs() []engine.HostFunc {
	const (
		i32 = engine.I32
		i64 = engine.I64
	)
	fn := func(name string, params []engine.ValType, call hostCall) engine.HostFunc {
		return engine.HostFunc{
			Name:    name,
			Params:  params,
			Results: []engine.ValType{i32},
			Call: func(ctx context.Context, c engine.Caller, stack []uint64) {
				stack[0] = uint64(call(ctx, guestMem{c.Memory()}, stack))
			},
		}
	}
	p := func(ts ...engine.ValType) []engine.ValType { return ts }
	return []engine.HostFunc{
		fn("args_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return stringsGet(m, &s.args, u32(st[0]), u32(st[1]))
		}),
		fn("args_sizes_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return stringsSizes(m, &s.args, u32(st[0]), u32(st[1]))
		}),
		fn("environ_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return stringsGet(m, &s.env, u32(st[0]), u32(st[1]))
		}),
		fn("environ_sizes_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return stringsSizes(m, &s.env, u32(st[0]), u32(st[1]))
		}),
		fn("clock_res_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.clockResGet(m, u32(st[0]), u32(st[1]))
		}),
		fn("clock_time_get", p(i32, i64, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.clockTimeGet(m, u32(st[0]), st[1], u32(st[2]))
		}),
		fn("fd_advise", p(i32, i64, i64, i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdAdvise(u32(st[0]), st[1], st[2], u32(st[3]))
		}),
		fn("fd_allocate", p(i32, i64, i64), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdAllocate(u32(st[0]), st[1], st[2])
		}),
		fn("fd_close", p(i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdClose(u32(st[0]))
		}),
		fn("fd_datasync", p(i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdSync(u32(st[0]), true)
		}),
		fn("fd_fdstat_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdFdstatGet(m, u32(st[0]), u32(st[1]))
		}),
		fn("fd_fdstat_set_flags", p(i32, i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdFdstatSetFlags(u32(st[0]), u32(st[1]))
		}),
		fn("fd_fdstat_set_rights", p(i32, i64, i64), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdFdstatSetRights(u32(st[0]), rights(st[1]), rights(st[2]))
		}),
		fn("fd_filestat_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdFilestatGet(m, u32(st[0]), u32(st[1]))
		}),
		fn("fd_filestat_set_size", p(i32, i64), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdFilestatSetSize(u32(st[0]), st[1])
		}),
		fn("fd_filestat_set_times", p(i32, i64, i64, i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdFilestatSetTimes(u32(st[0]), st[1], st[2], u32(st[3]))
		}),
		fn("fd_pread", p(i32, i32, i32, i64, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdPread(m, u32(st[0]), u32(st[1]), u32(st[2]), st[3], u32(st[4]))
		}),
		fn("fd_prestat_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdPrestatGet(m, u32(st[0]), u32(st[1]))
		}),
		fn("fd_prestat_dir_name", p(i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdPrestatDirName(m, u32(st[0]), u32(st[1]), u32(st[2]))
		}),
		fn("fd_pwrite", p(i32, i32, i32, i64, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdPwrite(m, u32(st[0]), u32(st[1]), u32(st[2]), st[3], u32(st[4]))
		}),
		fn("fd_read", p(i32, i32, i32, i32), func(ctx context.Context, m guestMem, st []uint64) errno {
			return s.fdRead(ctx, m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]))
		}),
		fn("fd_readdir", p(i32, i32, i32, i64, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdReaddir(m, u32(st[0]), u32(st[1]), u32(st[2]), st[3], u32(st[4]))
		}),
		fn("fd_renumber", p(i32, i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdRenumber(u32(st[0]), u32(st[1]))
		}),
		fn("fd_seek", p(i32, i64, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdSeek(m, u32(st[0]), int64(st[1]), u32(st[2]), u32(st[3]))
		}),
		fn("fd_sync", p(i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.fdSync(u32(st[0]), false)
		}),
		fn("fd_tell", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.fdTell(m, u32(st[0]), u32(st[1]))
		}),
		fn("fd_write", p(i32, i32, i32, i32), func(ctx context.Context, m guestMem, st []uint64) errno {
			return s.fdWrite(ctx, m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]))
		}),
		fn("path_create_directory", p(i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathCreateDirectory(m, u32(st[0]), u32(st[1]), u32(st[2]))
		}),
		fn("path_filestat_get", p(i32, i32, i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathFilestatGet(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]))
		}),
		fn("path_filestat_set_times", p(i32, i32, i32, i32, i64, i64, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathFilestatSetTimes(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), st[4], st[5], u32(st[6]))
		}),
		fn("path_link", p(i32, i32, i32, i32, i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathLink(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]), u32(st[5]), u32(st[6]))
		}),
		fn("path_open", p(i32, i32, i32, i32, i32, i64, i64, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathOpen(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]), rights(st[5]), rights(st[6]), u32(st[7]), u32(st[8]))
		}),
		fn("path_readlink", p(i32, i32, i32, i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathReadlink(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]), u32(st[5]))
		}),
		fn("path_remove_directory", p(i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathRemoveDirectory(m, u32(st[0]), u32(st[1]), u32(st[2]))
		}),
		fn("path_rename", p(i32, i32, i32, i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathRename(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]), u32(st[5]))
		}),
		fn("path_symlink", p(i32, i32, i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathSymlink(m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]))
		}),
		fn("path_unlink_file", p(i32, i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.pathUnlinkFile(m, u32(st[0]), u32(st[1]), u32(st[2]))
		}),
		fn("poll_oneoff", p(i32, i32, i32, i32), func(ctx context.Context, m guestMem, st []uint64) errno {
			return s.pollOneoff(ctx, m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]))
		}),
		{
			Name:   "proc_exit",
			Params: p(i32),
			Call: func(_ context.Context, c engine.Caller, stack []uint64) {
				c.Exit(u32(stack[0]))
			},
		},
		fn("proc_raise", p(i32), func(context.Context, guestMem, []uint64) errno {
			return errnoNosys // there are no signals to raise
		}),
		fn("sched_yield", nil, func(context.Context, guestMem, []uint64) errno {
			return s.schedYield()
		}),
		fn("random_get", p(i32, i32), func(_ context.Context, m guestMem, st []uint64) errno {
			return s.randomGet(m, u32(st[0]), u32(st[1]))
		}),
		fn("sock_accept", p(i32, i32, i32), func(ctx context.Context, m guestMem, st []uint64) errno {
			return s.sockAccept(ctx, m, u32(st[0]), u32(st[1]), u32(st[2]))
		}),
		fn("sock_recv", p(i32, i32, i32, i32, i32, i32), func(ctx context.Context, m guestMem, st []uint64) errno {
			return s.sockRecv(ctx, m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]), u32(st[5]))
		}),
		fn("sock_send", p(i32, i32, i32, i32, i32), func(ctx context.Context, m guestMem, st []uint64) errno {
			return s.sockSend(ctx, m, u32(st[0]), u32(st[1]), u32(st[2]), u32(st[3]), u32(st[4]))
		}),
		fn("sock_shutdown", p(i32, i32), func(_ context.Context, _ guestMem, st []uint64) errno {
			return s.sockShutdown(u32(st[0]), u32(st[1]))
		}),
	}
}

// u32 is an i32 parameter: the low 32 bits of its stack slot.
func u32(v uint64) uint32 { return uint32(v) }
