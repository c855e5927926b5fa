package wazero_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"donjon.dev/engine"
	"donjon.dev/engine/wazero"
)

// wat compiles a WebAssembly text file from testdata with wabt's wat2wasm.
func wat(t testing.TB, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("wat2wasm", "-o", out, filepath.Join("testdata", name+".wat"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm (Debian package wabt): %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	records [][]byte
}

func (e *env) module() engine.HostModule {
	return engine.HostModule{Name: "env", Funcs: []engine.HostFunc{
		{Name: "record", Params: []engine.ValType{engine.I32, engine.I32}, Call: func(_ context.Context, c engine.Caller, stack []uint64) {
			b, ok := c.Memory().Read(uint32(stack[0]), uint32(stack[1]))
			if !ok {
				panic("out of bounds")
			}
			e.records = append(e.records, append([]byte(nil), b...))
		}},
		{Name: "exit", Params: []engine.ValType{engine.I32}, Call: func(_ context.Context, c engine.Caller, stack []uint64) {
			c.Exit(uint32(stack[0]))
		}},
	}}
}

func start(t *testing.T, cfg engine.Config) (engine.Instance, *env) {
	t.Helper()
	ctx := context.Background()
	eng, err := wazero.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	m, err := eng.Compile(ctx, wat(t, "host"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.MemoryMinPages(); got != 1 {
		t.Errorf("MemoryMinPages = %d, want 1", got)
	}
	e := &env{}
	inst, err := eng.Instantiate(ctx, m, e.module())
	if err != nil {
		t.Fatal(err)
	}
	return inst, e
}

func TestHostCallReadsMemory(t *testing.T) {
	inst, e := start(t, engine.Config{})
	if err := inst.Call(context.Background(), "say"); err != nil {
		t.Fatal(err)
	}
	if len(e.records) != 1 || string(e.records[0]) != "hello host" {
		t.Fatalf("records = %q", e.records)
	}
}

func TestExitThroughHost(t *testing.T) {
	inst, _ := start(t, engine.Config{})
	err := inst.Call(context.Background(), "quit")
	var exit *engine.ExitError
	if !errors.As(err, &exit) || exit.Code != 7 {
		t.Fatalf("err = %v, want exit code 7", err)
	}
}

func TestTraps(t *testing.T) {
	for fn, want := range map[string]string{
		"boom":    "unreachable",
		"div0":    "integer divide by zero",
		"oob":     "out of bounds memory access",
		"recurse": "stack overflow",
	} {
		t.Run(fn, func(t *testing.T) {
			inst, _ := start(t, engine.Config{})
			err := inst.Call(context.Background(), fn)
			var trap *engine.Trap
			if !errors.As(err, &trap) {
				t.Fatalf("err = %v, want a trap", err)
			}
			if !strings.Contains(trap.Reason, want) || strings.Contains(trap.Reason, "\n") {
				t.Errorf("reason = %q, want one line containing %q", trap.Reason, want)
			}
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	inst, e := start(t, engine.Config{MemoryLimitPages: 5})
	if err := inst.Call(context.Background(), "grow"); err != nil {
		t.Fatal(err)
	}
	if len(e.records) != 1 {
		t.Fatalf("records = %q", e.records)
	}
	if pages := binary.LittleEndian.Uint32(e.records[0]); pages != 5 {
		t.Errorf("memory grew to %d pages, want the limit of 5", pages)
	}
	if size := inst.Memory().Size(); size != 5*engine.PageSize {
		t.Errorf("Memory().Size() = %d", size)
	}
}

func TestNotExported(t *testing.T) {
	inst, _ := start(t, engine.Config{})
	if err := inst.Call(context.Background(), "_start"); !errors.Is(err, engine.ErrNotExported) {
		t.Fatalf("err = %v, want ErrNotExported", err)
	}
}

func TestUnknownImportIsClearError(t *testing.T) {
	ctx := context.Background()
	eng, err := wazero.New(ctx, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	m, err := eng.Compile(ctx, wat(t, "stranger"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Instantiate(ctx, m)
	if err == nil || !strings.Contains(err.Error(), `not_wasi.f`) {
		t.Fatalf("err = %v, want it to name the import", err)
	}
}

func TestCompileRejectsGarbage(t *testing.T) {
	ctx := context.Background()
	eng, err := wazero.New(ctx, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for _, b := range [][]byte{nil, []byte("\x00asm"), []byte("not wasm at all"), []byte("\x00asm\x01\x00\x00\x00\x01\xff")} {
		if _, err := eng.Compile(ctx, b); err == nil {
			t.Errorf("Compile(%q) succeeded", b)
		}
	}
}

func TestCompilationCacheDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		eng, err := wazero.New(ctx, engine.Config{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Compile(ctx, wat(t, "host")); err != nil {
			t.Fatal(err)
		}
		eng.Close(ctx)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(entries) == 0 {
		t.Fatal("compilation cache directory is empty after compiling")
	}
}

// Counts that wazero would size an allocation by before checking them are
// refused up front: each of these once killed the process.
func TestPrecheckRefusesHugeCounts(t *testing.T) {
	ctx := context.Background()
	eng, err := wazero.New(ctx, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	header := "\x00asm\x01\x00\x00\x00"
	for name, tc := range map[string]struct{ module, want string }{
		// type section: one func type with 2^32-1 params
		"params": {header + "\x01\x07\x01\x60\xff\xff\xff\xff\x0f", "vector of 4294967295 entries"},
		// code section: one body declaring 2^32-1 i32 locals
		"locals": {header + "\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b", "over 50000 locals"},
		// a section longer than the module
		"section size": {header + "\x01\xff\x01\x00", "truncated"},
	} {
		_, err := eng.Compile(ctx, []byte(tc.module))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// Every standard section's leading vector is bounded the same way.
func TestPrecheckBoundsEveryVector(t *testing.T) {
	ctx := context.Background()
	eng, err := wazero.New(ctx, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for id := byte(2); id <= 11; id++ {
		// section id, size 5, count 0x0fffffff in 4 bytes, one byte left
		module := []byte("\x00asm\x01\x00\x00\x00")
		module = append(module, id, 5, 0xff, 0xff, 0xff, 0x7f, 0)
		if _, err := eng.Compile(ctx, module); err == nil || !strings.Contains(err.Error(), "vector of") {
			t.Errorf("section %d: err = %v", id, err)
		}
	}
	name := []byte("\x00asm\x01\x00\x00\x00\x00\x0c\x04name\x01\x05\xff\xff\xff\x7f\x00")
	if _, err := eng.Compile(ctx, name); err == nil || !strings.Contains(err.Error(), "vector of") {
		t.Errorf("name section: err = %v", err)
	}
}
