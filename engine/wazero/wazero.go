// Package wazero implements engine.Engine with wazero, a WebAssembly
// runtime written in pure Go.
package wazero

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"donjon.dev/engine"
)

// Engine is a wazero runtime. It runs one guest instance at a time per host
// module set: donjon runs one keep per process.
type Engine struct {
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	workers int
	hosts   map[string]bool
}

var _ engine.Engine = (*Engine)(nil)

// New returns a wazero engine configured by cfg. It uses the optimizing
// compiler where wazero supports the platform and the interpreter
// elsewhere. Guests are not interrupted through ctx (that costs up to 14x
// on tight loops, wazero issue #2466): donjon stops a guest by ending its
// process.
func New(ctx context.Context, cfg engine.Config) (*Engine, error) {
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(false)
	if cfg.MemoryLimitPages > 0 {
		rc = rc.WithMemoryLimitPages(cfg.MemoryLimitPages)
	}
	e := &Engine{workers: cfg.CompileWorkers, hosts: map[string]bool{}}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wazero: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		e.cache = c
		rc = rc.WithCompilationCache(c)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	return e, nil
}

// Compile implements engine.Engine. Module bytes are untrusted: a panic in
// wazero's decoder (fuzzing found one, a negative slice length in the code
// section decoder of v1.12.0) is returned as an invalid-module error.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (_ engine.Module, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid module: the decoder failed: %v", r)
		}
	}()
	if err := precheck(wasm); err != nil {
		return nil, fmt.Errorf("invalid module: %w", err)
	}
	if e.workers > 0 {
		ctx = experimental.WithCompilationWorkers(ctx, e.workers)
	}
	cm, err := e.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("invalid module: %w", err)
	}
	return &module{cm: cm}, nil
}

// Instantiate implements engine.Engine.
func (e *Engine) Instantiate(ctx context.Context, m engine.Module, hosts ...engine.HostModule) (engine.Instance, error) {
	mod, ok := m.(*module)
	if !ok {
		return nil, errors.New("wazero: module was compiled by another engine")
	}
	for _, h := range hosts {
		if e.hosts[h.Name] {
			return nil, fmt.Errorf("wazero: host module %q is already instantiated in this engine", h.Name)
		}
		if err := e.instantiateHost(ctx, h); err != nil {
			return nil, err
		}
		e.hosts[h.Name] = true
	}
	for _, imp := range mod.Imports() {
		if !e.hosts[imp.Module] {
			return nil, fmt.Errorf("module imports %s.%s, but donjon provides no module %q (only WASI preview 1, wasi_snapshot_preview1, is supported)", imp.Module, imp.Name, imp.Module)
		}
	}
	// Start functions are called explicitly through Call, so that exits
	// and traps in _start are reported like any other call.
	inst, err := e.rt.InstantiateModule(ctx, mod.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	return &instance{mod: inst}, nil
}

func (e *Engine) instantiateHost(ctx context.Context, h engine.HostModule) error {
	b := e.rt.NewHostModuleBuilder(h.Name)
	for _, f := range h.Funcs {
		b.NewFunctionBuilder().
			WithGoModuleFunction(hostFunc(f.Call), valTypes(f.Params), valTypes(f.Results)).
			Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("wazero: host module %s: %w", h.Name, err)
	}
	return nil
}

// Close implements engine.Engine.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

func valTypes(ts []engine.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		switch t {
		case engine.I32:
			out[i] = api.ValueTypeI32
		case engine.I64:
			out[i] = api.ValueTypeI64
		case engine.F32:
			out[i] = api.ValueTypeF32
		case engine.F64:
			out[i] = api.ValueTypeF64
		default:
			panic(fmt.Sprintf("wazero: unknown value type %d", t))
		}
	}
	return out
}

// hostFunc adapts an engine host function to wazero. The Caller handed to
// fn is reused between calls from the same guest module, so a host call
// costs no allocation.
func hostFunc(fn func(context.Context, engine.Caller, []uint64)) api.GoModuleFunc {
	var last atomic.Pointer[caller]
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		c := last.Load()
		if c == nil || c.mod != mod {
			c = &caller{mod: mod}
			last.Store(c)
		}
		c.ctx = ctx
		fn(ctx, c, stack)
	}
}

type caller struct {
	ctx context.Context
	mod api.Module
}

func (c *caller) Memory() engine.Memory {
	if m := c.mod.Memory(); m != nil {
		return m
	}
	return nil
}

func (c *caller) Exit(code uint32) {
	_ = c.mod.CloseWithExitCode(c.ctx, code)
	panic(sys.NewExitError(code))
}

type module struct {
	cm wazero.CompiledModule
}

func (m *module) Imports() []engine.Import {
	var out []engine.Import
	for _, f := range m.cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		out = append(out, engine.Import{Module: mod, Name: name})
	}
	for _, mem := range m.cm.ImportedMemories() {
		mod, name, _ := mem.Import()
		out = append(out, engine.Import{Module: mod, Name: name})
	}
	return out
}

func (m *module) Exports() []string {
	var out []string
	for name := range m.cm.ExportedFunctions() {
		out = append(out, name)
	}
	return out
}

func (m *module) MemoryMinPages() uint32 {
	for _, mem := range m.cm.ExportedMemories() {
		return mem.Min()
	}
	return 0
}

func (m *module) Close(ctx context.Context) error { return m.cm.Close(ctx) }

type instance struct {
	mod api.Module
}

func (i *instance) Call(ctx context.Context, name string) error {
	fn := i.mod.ExportedFunction(name)
	if fn == nil {
		return fmt.Errorf("%s: %w", name, engine.ErrNotExported)
	}
	_, err := fn.Call(ctx)
	if err == nil {
		return nil
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return &engine.ExitError{Code: exit.ExitCode()}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return trap(err)
}

// trap turns a wazero error ("wasm error: REASON\nwasm stack trace:\n...")
// into an engine.Trap.
func trap(err error) *engine.Trap {
	msg := err.Error()
	reason, stack, _ := strings.Cut(msg, "\n")
	reason = strings.TrimPrefix(reason, "wasm error: ")
	return &engine.Trap{Reason: reason, Stack: strings.TrimSpace(stack), Err: err}
}

func (i *instance) Memory() engine.Memory {
	if m := i.mod.Memory(); m != nil {
		return m
	}
	return nil
}

func (i *instance) Close(ctx context.Context) error { return i.mod.Close(ctx) }

// ID names this engine and its version, for caches of compiled code.
const ID = "wazero v1.12.0"
