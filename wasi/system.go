//go:build linux

// Package wasi is donjon's implementation of WASI preview 1
// (wasi_snapshot_preview1): the host functions a guest imports, over a
// table of file descriptors that donjon owns.
//
// A System serves one guest instance:
//
//	sys, err := wasi.New(wasi.Config{
//		Args: []string{"app.wasm", "-v"},
//		Env:  []string{"HOME=/"},
//		FDs: []wasi.FD{
//			wasi.Stream(os.Stdin, true, false),
//			wasi.Stream(os.Stdout, false, true),
//			wasi.Stream(os.Stderr, false, true),
//			wasi.Preopen("/", dir), // dir from hostfs.Open, or a sealed directory
//		},
//	})
//	defer sys.Close()
//	inst, err := eng.Instantiate(ctx, mod, sys.Module())
//
// What a descriptor is lives behind the interfaces of package vfs: host
// directories (package hostfs), sealed directories, streams, sockets. Every
// directory descriptor is a capability: paths resolve beneath it and never
// leave it.
//
// Host functions run on the guest's goroutine, one at a time; they keep
// per-call scratch space in the System, so a System must not serve two
// instances. Blocking calls (fd_read on a pipe, poll_oneoff, sock_accept)
// wait in poll(2) without spinning, and return ERRNO_CANCELED if the
// context of the call ends meanwhile. Linux only.
package wasi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"donjon.dev/engine"
)

// ModuleName is the import module of WASI preview 1.
const ModuleName = "wasi_snapshot_preview1"

// maxFDs bounds the descriptor table; path_open and sock_accept fail with
// ERRNO_MFILE beyond it.
const maxFDs = 1 << 16

// maxSubscriptions bounds one poll_oneoff call, as RLIMIT_NOFILE bounds poll.
const maxSubscriptions = 1 << 16

// Config describes a guest's process environment.
type Config struct {
	// Args is argv, argv[0] included.
	Args []string
	// Env is the whole environment, as "KEY=VALUE" strings: the host's
	// environment never leaks in.
	Env []string
	// FDs are the guest's descriptors: fd i is FDs[i]. Usually stdin,
	// stdout, stderr, then preopened directories. Guests look for
	// preopened directories from fd 3 up and stop at the first descriptor
	// that is not one, so put them right after stdio, before sockets.
	// The System owns what the FDs hold (except the *os.File of a Stream)
	// and closes it.
	FDs []FD
	// Rand serves random_get; nil means crypto/rand.
	Rand io.Reader
}

// System is the WASI state of one guest instance: its arguments,
// environment, clocks and descriptor table.
type System struct {
	args, env strtab
	fds       []*entry
	rand      io.Reader
	start     time.Time // the monotonic clock counts from here

	// wake interrupts a blocked poll: Notifiers and ending contexts write
	// to it. wakeMu orders those writes with Close.
	wakeMu sync.Mutex
	wake   int

	// Scratch space reused by calls, so that the hot path (fd_write on
	// stdout) allocates nothing.
	iovs    [][]byte
	pollfds []unix.PollFd
	subs    []subscription
	stops   []func()
	waits   uint64 // poll_oneoff waits so far, to arm each Notifier once per wait

	closed bool
}

// strtab is argv or environ as the guest receives them: NUL-terminated
// strings packed in one buffer.
type strtab struct {
	buf  []byte
	offs []uint32
}

func newStrtab(what string, ss []string, check func(string) error) (strtab, error) {
	var t strtab
	for i, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return t, fmt.Errorf("wasi: %s[%d] contains a NUL byte; remove it", what, i)
		}
		if check != nil {
			if err := check(s); err != nil {
				return t, fmt.Errorf("wasi: %s[%d] %q: %w", what, i, s, err)
			}
		}
		if len(t.buf)+len(s)+1 > 1<<30 {
			return t, fmt.Errorf("wasi: %s is larger than 1 GiB; shorten it", what)
		}
		t.offs = append(t.offs, uint32(len(t.buf)))
		t.buf = append(t.buf, s...)
		t.buf = append(t.buf, 0)
	}
	return t, nil
}

// New returns a System for one guest instance. It takes ownership of what
// cfg.FDs hold.
func New(cfg Config) (*System, error) {
	args, err := newStrtab("argument", cfg.Args, nil)
	if err != nil {
		return nil, err
	}
	env, err := newStrtab("environment variable", cfg.Env, func(s string) error {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return errors.New("is not KEY=VALUE; write it as KEY=VALUE")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cfg.FDs) > maxFDs {
		return nil, fmt.Errorf("wasi: %d descriptors, more than the %d a guest may have", len(cfg.FDs), maxFDs)
	}
	seen := make(map[*entry]int, len(cfg.FDs))
	fds := make([]*entry, len(cfg.FDs))
	for i, fd := range cfg.FDs {
		switch j, dup := seen[fd.e]; {
		case fd.err != nil:
			return nil, fmt.Errorf("wasi: fd %d: %w", i, fd.err)
		case fd.e == nil:
			return nil, fmt.Errorf("wasi: fd %d is an empty FD; build it with Null, Stream, Preopen or Socket", i)
		case dup:
			return nil, fmt.Errorf("wasi: fds %d and %d are the same FD; build one FD per descriptor", j, i)
		}
		seen[fd.e] = i
		fds[i] = fd.e
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("wasi: eventfd: %w", err)
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	return &System{
		args:  args,
		env:   env,
		fds:   fds,
		rand:  r,
		start: time.Now(),
		wake:  wake,
	}, nil
}

// Close closes every descriptor the guest still holds (the *os.File of a
// Stream stays open: its owner closes it). Call it once the guest has
// stopped.
func (s *System) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for fd, e := range s.fds {
		if e != nil {
			if err := e.close(); err != nil {
				errs = append(errs, fmt.Errorf("wasi: closing fd %d: %w", fd, err))
			}
			s.fds[fd] = nil
		}
	}
	s.wakeMu.Lock()
	unix.Close(s.wake)
	s.wake = -1
	s.wakeMu.Unlock()
	return errors.Join(errs...)
}

// wakeup interrupts a blocked poll_oneoff or blocking read. Any goroutine
// may call it, at any time.
func (s *System) wakeup() {
	one := [8]byte{1}
	s.wakeMu.Lock()
	if s.wake >= 0 {
		unix.Write(s.wake, one[:])
	}
	s.wakeMu.Unlock()
}

// lookup returns the entry of descriptor fd.
func (s *System) lookup(fd uint32) (*entry, errno) {
	if uint64(fd) >= uint64(len(s.fds)) || s.fds[fd] == nil {
		return nil, errnoBadf
	}
	return s.fds[fd], errnoSuccess
}

// install puts e at the lowest free descriptor, as POSIX does.
func (s *System) install(e *entry) (uint32, errno) {
	for fd, slot := range s.fds {
		if slot == nil {
			s.fds[fd] = e
			return uint32(fd), errnoSuccess
		}
	}
	if len(s.fds) >= maxFDs {
		return 0, errnoMfile
	}
	s.fds = append(s.fds, e)
	return uint32(len(s.fds) - 1), errnoSuccess
}

// Module returns the host module "wasi_snapshot_preview1" with every
// preview 1 function, bound to s.
func (s *System) Module() engine.HostModule {
	return engine.HostModule{Name: ModuleName, Funcs: s.funcs()}
}
