//go:build linux

package wasi

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"donjon.dev/engine"
	"donjon.dev/wasi/hostfs"
)

// FuzzHostCalls calls random host functions with random arguments against
// a random guest memory, on a System with a real preopened directory (with
// links pointing out of it) and a socket. No call may panic, every result
// must be a WASI errno, and nothing outside the preopened directory may
// change.
//
// calls is a little program: for each call, one byte picks the function,
// then each parameter is decoded from the following bytes (see arg).
func FuzzHostCalls(f *testing.F) {
	fuzzFuncNames := hostFuncNames(f)
	seed := func(mem []byte, calls ...[]byte) { f.Add(mem, slices.Concat(calls...)) }
	mem := make([]byte, 256)
	copy(mem[0:], "file\x00../outside/secret\x00esc/secret\x00dir/\x00.")
	// iovec {ptr 128, len 16} at 64; subscription (clock, 1 ms) at 160.
	binary.LittleEndian.PutUint32(mem[64:], 128)
	binary.LittleEndian.PutUint32(mem[68:], 16)
	mem[168] = eventClock
	binary.LittleEndian.PutUint32(mem[176:], clockMonotonic)
	binary.LittleEndian.PutUint64(mem[184:], uint64(time.Millisecond))
	idx := func(name string) byte {
		for i, n := range fuzzFuncNames {
			if n == name {
				return byte(i)
			}
		}
		panic(name)
	}
	small := func(v byte) []byte { return []byte{0, v} } // arg kind 0: a small number
	ptr := func(p uint16) []byte { return []byte{1, byte(p), byte(p >> 8)} }
	seed(mem, []byte{idx("path_open")}, small(3), small(1), ptr(0), small(4), small(1), []byte{3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, []byte{3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, small(0), ptr(240),
		[]byte{idx("fd_write")}, small(5), ptr(64), small(1), ptr(250))
	seed(mem, []byte{idx("path_open")}, small(3), small(1), ptr(5), small(19), small(0), small(2), small(0), small(0), ptr(240))
	seed(mem, []byte{idx("path_filestat_get")}, small(3), small(1), ptr(25), small(10), ptr(128))
	seed(mem, []byte{idx("path_create_directory")}, small(3), ptr(36), small(4),
		[]byte{idx("fd_readdir")}, small(3), ptr(128), small(100), small(0), ptr(250))
	seed(mem, []byte{idx("poll_oneoff")}, ptr(160), ptr(200), small(1), ptr(250))
	seed(mem, []byte{idx("sock_recv")}, small(4), ptr(64), small(1), small(0), ptr(240), ptr(244))
	seed(mem, []byte{idx("path_rename")}, small(3), ptr(0), small(4), small(3), ptr(5), small(19))
	seed(mem, []byte{idx("path_symlink")}, ptr(5), small(19), small(3), ptr(0), small(4),
		[]byte{idx("path_open")}, small(3), small(1), ptr(0), small(4), small(1), small(0), small(0), small(0), ptr(240))
	seed(nil, []byte{idx("fd_renumber")}, small(3), small(0), []byte{idx("args_get")}, []byte{2, 0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, mem, calls []byte) {
		// Guests may fill a disk (fd_allocate of a terabyte does): that
		// is for quotas outside donjon. Here files stop at 8 MiB, and
		// the System sees EFBIG.
		var fsize unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &fsize); err != nil {
			t.Fatal(err)
		}
		limited := fsize
		limited.Cur = min(fsize.Cur, 8<<20)
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &limited); err != nil {
			t.Fatal(err)
		}
		defer unix.Setrlimit(unix.RLIMIT_FSIZE, &fsize)

		base := t.TempDir()
		sb, out := filepath.Join(base, "sandbox"), filepath.Join(base, "outside")
		os.MkdirAll(filepath.Join(sb, "dir"), 0o755)
		os.Mkdir(out, 0o755)
		os.WriteFile(filepath.Join(sb, "file"), []byte("content"), 0o644)
		os.WriteFile(filepath.Join(out, "secret"), []byte("secret"), 0o644)
		os.Symlink("../outside", filepath.Join(sb, "esc"))
		os.Symlink(out, filepath.Join(sb, "abs"))
		d, err := hostfs.Open(sb)
		if err != nil {
			t.Fatal(err)
		}
		sock := &fakeSocket{}
		sock.feed("data", false)
		h := newHarnessConfig(t, Config{
			Args: []string{"fuzz", "arg"},
			Env:  []string{"K=V"},
			FDs:  []FD{Null(), Null(), Null(), Preopen("/", d), Socket(sock)},
		})
		copy(h.mem.b, mem)
		caller := &fakeCaller{mem: h.mem}
		funcs := h.s.Module().Funcs
		byName := map[string]engine.HostFunc{}
		for _, fn := range funcs {
			byName[fn.Name] = fn
		}
		prog := calls
		for n := 0; len(prog) > 0 && n < 32; n++ {
			fn := byName[fuzzFuncNames[int(prog[0])%len(fuzzFuncNames)]]
			prog = prog[1:]
			stack := make([]uint64, max(len(fn.Params), 1))
			for i := range fn.Params {
				stack[i], prog = arg(prog)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			exitedNormally := func() (ok bool) {
				defer func() {
					if r := recover(); r != nil {
						if _, exit := r.(exited); !exit {
							panic(r)
						}
						ok = false
					}
				}()
				fn.Call(ctx, caller, stack)
				return true
			}()
			cancel()
			if !exitedNormally {
				break // proc_exit
			}
			if len(fn.Results) == 1 && stack[0] > uint64(errnoNotcapable) {
				t.Fatalf("%s returned %d, not an errno", fn.Name, stack[0])
			}
		}
		h.s.Close()
		names, _ := os.ReadDir(out)
		secret, _ := os.ReadFile(filepath.Join(out, "secret"))
		top, _ := os.ReadDir(base)
		if len(names) != 1 || string(secret) != "secret" || len(top) != 2 {
			t.Fatalf("outside the sandbox changed: %v, %q, %d entries above", names, secret, len(top))
		}
	})
}

// hostFuncNames lists the host functions in a fixed order.
func hostFuncNames(t testing.TB) []string {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var names []string
	for _, fn := range s.Module().Funcs {
		names = append(names, fn.Name)
	}
	sort.Strings(names)
	return names
}

// arg decodes one parameter: a kind byte, then 0: a small number (1 byte),
// 1: a 16-bit pointer, 2: 4 bytes, 3: 8 bytes, others: the kind byte
// itself. Missing bytes read as zero.
func arg(b []byte) (uint64, []byte) {
	if len(b) == 0 {
		return 0, b
	}
	kind, b := b[0], b[1:]
	size := map[byte]int{0: 1, 1: 2, 2: 4, 3: 8}[kind%8]
	if kind%8 > 3 {
		return uint64(kind), b
	}
	var v [8]byte
	n := copy(v[:size], b)
	return binary.LittleEndian.Uint64(v[:]), b[n:]
}
