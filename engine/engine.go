// Package engine is the small interface donjon needs from a WebAssembly
// engine: compile a module (with a cache), instantiate it against host
// modules, call an export, and let host functions reach linear memory.
//
// The wasi package is written against this interface only, so a second
// engine (wasmtime, say) can be added without touching it.
package engine

import (
	"context"
	"errors"
	"fmt"
)

// ValType is a WebAssembly value type used in host function signatures.
type ValType uint8

// The value types a host function may take or return.
const (
	I32 ValType = iota + 1
	I64
	F32
	F64
)

// PageSize is the size of a WebAssembly linear memory page.
const PageSize = 65536

// HostFunc is a function the host exports to the guest.
//
// Call receives its parameters in stack (each value in the low bits of a
// uint64, as in the WebAssembly C API) and writes its results back to the
// front of the same slice. Call must not retain caller or stack.
type HostFunc struct {
	Name    string
	Params  []ValType
	Results []ValType
	Call    func(ctx context.Context, caller Caller, stack []uint64)
}

// HostModule is a named set of host functions, e.g. "wasi_snapshot_preview1".
type HostModule struct {
	Name  string
	Funcs []HostFunc
}

// Caller is what a host function sees of the instance that called it.
type Caller interface {
	// Memory is the caller's exported linear memory "memory", or nil.
	Memory() Memory
	// Exit ends the guest with the given exit code. It does not return:
	// the call that is running returns an *ExitError.
	Exit(code uint32)
}

// Memory is a guest's linear memory.
type Memory interface {
	// Read returns a view of length bytes at offset, or false if the range
	// is out of bounds. Writes to the view are writes to guest memory. The
	// view is valid until the guest runs again (memory.grow may move it).
	Read(offset, length uint32) ([]byte, bool)
	// Size is the current size in bytes.
	Size() uint32
}

// Config configures an engine.
type Config struct {
	// MemoryLimitPages caps every linear memory, in 64 KiB pages. Zero means
	// the engine's maximum (4 GiB).
	MemoryLimitPages uint32
	// CacheDir, if set, holds compiled code between processes. It is the
	// engine's private working directory: the caller is responsible for its
	// integrity (see package compcache).
	CacheDir string
	// CompileWorkers is the number of goroutines compiling in parallel; zero
	// means the engine's default.
	CompileWorkers int
}

// Engine compiles and instantiates modules.
type Engine interface {
	// Compile validates and compiles wasm.
	Compile(ctx context.Context, wasm []byte) (Module, error)
	// Instantiate links m against hosts and runs its start section, but not
	// _start. Imports that no host module provides are an error.
	Instantiate(ctx context.Context, m Module, hosts ...HostModule) (Instance, error)
	// Close releases everything the engine holds.
	Close(ctx context.Context) error
}

// Import names a function a module imports.
type Import struct {
	Module, Name string
}

// Module is a compiled module.
type Module interface {
	// Imports lists the functions the module imports.
	Imports() []Import
	// Exports lists the names of the functions the module exports.
	Exports() []string
	// MemoryMinPages is the minimum size of the module's memory in pages,
	// or zero when it defines none.
	MemoryMinPages() uint32
	// Close releases the compiled code. Instances already made keep
	// working.
	Close(ctx context.Context) error
}

// Instance is an instantiated module.
type Instance interface {
	// Call calls the exported function name with no arguments. It returns
	// an *ExitError when the guest exits through the host, a *Trap when it
	// traps, or ctx.Err() when the engine observed ctx ending.
	Call(ctx context.Context, name string) error
	// Memory is the instance's exported memory, or nil.
	Memory() Memory
	// Close releases the instance.
	Close(ctx context.Context) error
}

// ExitError reports that the guest exited with Code (proc_exit).
type ExitError struct {
	Code uint32
}

func (e *ExitError) Error() string { return fmt.Sprintf("guest exited with code %d", e.Code) }

// Trap reports that the guest trapped: unreachable, out-of-bounds memory
// access, division by zero, stack exhaustion, or a host function panic.
type Trap struct {
	// Reason is a one-line description ("integer divide by zero").
	Reason string
	// Stack is the engine's wasm stack trace, possibly empty.
	Stack string
	// Err is the underlying error.
	Err error
}

func (t *Trap) Error() string { return "guest trapped: " + t.Reason }
func (t *Trap) Unwrap() error { return t.Err }

// ErrNotExported is returned by Instance.Call for a function the module does
// not export.
var ErrNotExported = errors.New("function not exported")
