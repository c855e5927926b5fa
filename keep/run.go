package keep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"donjon.dev/compcache"
	"donjon.dev/engine"
	"donjon.dev/engine/wazero"
	"donjon.dev/tee"
	"donjon.dev/tlsnet"
	"donjon.dev/wasi"
	"donjon.dev/wasi/vfs"
)

// Result is how a guest ended.
type Result struct {
	// ExitCode is the guest's exit code (0 when _start returned).
	ExitCode uint32 `json:"exit_code"`
	// Trap is set when the guest trapped: the one-line reason.
	Trap string `json:"trap,omitempty"`
	// TrapStack is the engine's wasm stack trace for a trap.
	TrapStack string `json:"trap_stack,omitempty"`
	// MemoryBytes is the guest's linear memory size when it ended.
	MemoryBytes uint64 `json:"memory_bytes"`
	// MemoryLimitReached tells that memory had grown so close to the limit
	// that a typical allocator's next growth would not fit.
	MemoryLimitReached bool `json:"memory_limit_reached,omitempty"`
	// Cached tells that compiled code came from the cache.
	Cached bool `json:"cached,omitempty"`
	// Identity describes the keep's attested identity in one line.
	Identity string `json:"identity,omitempty"`
}

// Stdio is the host side of the guest's standard streams.
type Stdio struct {
	In, Out, Err *os.File
}

// Run runs the workload in this process and returns how the guest ended.
// The error is for failures of donjon or of the workload's setup (invalid
// module, missing directory), never for the guest's own exit or trap.
// Run does not stop a guest that computes without host calls when ctx
// ends: the supervisor does that by ending the process.
func Run(ctx context.Context, log *slog.Logger, p *Plan, wasm []byte, stdio Stdio) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	var res Result
	cfg := engine.Config{MemoryLimitPages: p.MemoryLimitPages, CompileWorkers: p.CompileWorkers}
	if cfg.CompileWorkers == 0 {
		cfg.CompileWorkers = runtime.GOMAXPROCS(0)
	}
	start := time.Now()

	digest := Digest(wasm)
	// The identity comes first: a keep the steward refuses never runs its
	// workload.
	aopts, err := attestOptions(ctx, p, digest)
	if err != nil {
		return res, err
	}
	att, err := Attest(ctx, aopts)
	if err != nil {
		return res, err
	}
	res.Identity = describeIdentity(p, att)
	log.Debug("keep attested", "identity", res.Identity, "elapsed", time.Since(start))

	var cache *compcache.Cache
	if p.CacheDir != "" {
		var err error
		cache, cfg.CacheDir, res.Cached, err = checkoutCode(log, p.CacheDir, digest)
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(cfg.CacheDir)
		log.Debug("compiled-code cache checked", "hit", res.Cached, "elapsed", time.Since(start))
	}

	eng, err := wazero.New(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		if strings.Contains(err.Error(), "section memory") && strings.Contains(err.Error(), "over limit") {
			return res, fmt.Errorf("%s: its initial memory is over the limit: raise --memory or limits.memory (%w)", p.ModuleName, err)
		}
		return res, fmt.Errorf("%s: %w", p.ModuleName, err)
	}
	log.Debug("compiled", "cached", res.Cached, "elapsed", time.Since(start))
	if cache != nil && !res.Cached {
		if err := cache.Commit(digest, cfg.CacheDir); err != nil {
			log.Warn("could not store compiled code in the cache", "err", err)
		}
	}

	dirs, err := openDirs(ctx, log, p, sealingKeys(aopts, att), digest)
	if err != nil {
		return res, err
	}
	// Sockets open once the code is ready, so that a listen socket that
	// accepts connections is served promptly.
	creds := newCredentials(log, att, aopts)
	var open sync.WaitGroup
	socks, err := openSockets(ctx, log, p, creds, &open)
	if err != nil {
		closeAll(dirs)
		return res, err
	}
	// Runs after the System is closed (defers run last first): what the
	// guest sent before it closed a connection or exited still leaves.
	defer waitFlushed(log, &open)
	if len(socks) > 0 {
		renewCtx, stopRenewing := context.WithCancel(ctx)
		defer stopRenewing()
		go creds.renew(renewCtx)
	}
	sys, err := newSystem(p, stdio, dirs, socks)
	if err != nil {
		closeAll(dirs)
		closeAll(socks)
		return res, err
	}
	defer sys.Close()

	inst, err := eng.Instantiate(ctx, mod, sys.Module())
	if err != nil {
		return res, fmt.Errorf("%s: %w", p.ModuleName, err)
	}
	defer inst.Close(ctx)

	log.Debug("instantiated", "elapsed", time.Since(start))
	err = callEntry(ctx, inst, mod.Exports())
	log.Debug("guest ended", "elapsed", time.Since(start))
	if m := inst.Memory(); m != nil {
		res.MemoryBytes = uint64(m.Size())
		res.MemoryLimitReached = nearLimit(res.MemoryBytes, uint64(p.MemoryLimitPages)*engine.PageSize)
	}
	var exit *engine.ExitError
	var trap *engine.Trap
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.ExitCode = exit.Code
	case errors.As(err, &trap):
		res.Trap, res.TrapStack = trap.Reason, trap.Stack
	default:
		return res, err
	}
	return res, nil
}

// waitFlushed waits, within tlsnet's close timeout, for the connections
// the guest closed to finish sending.
func waitFlushed(log *slog.Logger, open *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { open.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(tlsnet.DefaultCloseTimeout):
		log.Warn("gave up waiting for closed connections to finish sending", "after", tlsnet.DefaultCloseTimeout)
	}
}

func attestOptions(ctx context.Context, p *Plan, module [32]byte) (AttestOptions, error) {
	platform, err := tee.Open(ctx, tee.Backend(p.Backend), tee.OpenOptions{DevKeyFile: p.DevKeyFile})
	if err != nil {
		return AttestOptions{}, err
	}
	return AttestOptions{Platform: platform, Module: module, Config: p.ConfigDigest, Steward: p.Steward, Names: p.TLSNames, Plaintext: p.Plaintext()}, nil
}

func describeIdentity(p *Plan, a *Attestation) string {
	leaf := a.Chain[0]
	how := "self-signed (no steward configured)"
	if a.Certified {
		how = fmt.Sprintf("certified by %q (%s)", leaf.Issuer.CommonName, p.Steward)
	}
	return fmt.Sprintf("backend %s, certificate %x %s, valid until %s", p.Backend, leaf.SerialNumber.Bytes(), how, leaf.NotAfter.UTC().Format(time.RFC3339))
}

// nearLimit tells whether a memory of size bytes is close enough to limit
// that its allocator's next request could have been refused: engines do
// not report a refused memory.grow, and allocators grow in steps (Rust and
// C by the allocation, Go by 4 MiB and up).
func nearLimit(size, limit uint64) bool {
	slack := max(limit/8, 4<<20)
	return size+slack >= limit
}

// callEntry runs a command module's _start; a reactor's _initialize runs
// first when the module has one.
func callEntry(ctx context.Context, inst engine.Instance, exports []string) error {
	has := map[string]bool{}
	for _, e := range exports {
		has[e] = true
	}
	if has["_initialize"] {
		if err := inst.Call(ctx, "_initialize"); err != nil {
			return err
		}
	}
	if !has["_start"] {
		if has["_initialize"] {
			return nil
		}
		return errors.New("the module exports neither _start nor _initialize: is it a WASI command?")
	}
	return inst.Call(ctx, "_start")
}

// checkoutCode prepares a private directory for the engine's compiled code
// holding the verified cache entry for the module, if there is one.
func checkoutCode(log *slog.Logger, cacheDir string, digest [32]byte) (*compcache.Cache, string, bool, error) {
	key, err := compcache.LocalKey(filepath.Join(cacheDir, "key"))
	if err != nil {
		return nil, "", false, err
	}
	cache, err := compcache.Open(filepath.Join(cacheDir, "compiled"), engineID(), key)
	if err != nil {
		return nil, "", false, err
	}
	work, err := os.MkdirTemp("", "donjon-code-")
	if err != nil {
		return nil, "", false, fmt.Errorf("compiled-code directory: %w", err)
	}
	hit, err := cache.Checkout(digest, work)
	if err != nil {
		// A bad entry costs a compile, nothing more: it was not used.
		log.Warn("ignoring a compiled-code cache entry", "err", err)
		if err := os.RemoveAll(work); err != nil {
			return nil, "", false, err
		}
		if err := os.Mkdir(work, 0o700); err != nil {
			return nil, "", false, err
		}
	}
	return cache, work, hit, nil
}

func engineID() string {
	return wazero.ID + " " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version()
}

// newSystem builds the guest's WASI world. The System owns dirs and socks
// from then on: closing it closes them.
func newSystem(p *Plan, stdio Stdio, dirs map[int]vfs.Dir, socks map[int]vfs.Socket) (*wasi.System, error) {
	fds := make([]wasi.FD, 0, len(p.FDs))
	for i, fd := range p.FDs {
		switch fd.Kind {
		case FDNull:
			fds = append(fds, wasi.Null())
		case FDStdin:
			fds = append(fds, wasi.Stream(stdio.In, true, false))
		case FDStdout:
			fds = append(fds, wasi.Stream(stdio.Out, false, true))
		case FDStderr:
			fds = append(fds, wasi.Stream(stdio.Err, false, true))
		case FDDir:
			fds = append(fds, wasi.Preopen(fd.GuestPath, dirs[i]))
		case FDListen, FDConnect:
			fds = append(fds, wasi.Socket(socks[i]))
		}
	}
	args := append([]string{p.ModuleName}, p.Args...)
	return wasi.New(wasi.Config{Args: args, Env: p.Env, FDs: fds})
}

func closeAll[T interface{ Close() error }](m map[int]T) {
	for _, c := range m {
		c.Close()
	}
}
