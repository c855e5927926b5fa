package wazero_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"donjon.dev/engine"
	"donjon.dev/engine/wazero"
)

// FuzzCompile feeds untrusted bytes to the module loader: whatever they
// are, compiling and inspecting them returns an error or a module, and
// never panics.
func FuzzCompile(f *testing.F) {
	for _, name := range []string{"host", "stranger"} {
		f.Add(wat(f, name))
	}
	// Small real modules from the test guests, when they were built.
	if matches, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.wasm")); len(matches) > 0 {
		for _, m := range matches {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, wasm []byte) {
		// A fresh engine per input, as each keep process has: nothing one
		// input leaves behind can make another fail.
		eng, err := wazero.New(ctx, engine.Config{MemoryLimitPages: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(ctx)
		m, err := eng.Compile(ctx, wasm)
		if err != nil {
			return
		}
		_ = m.Imports()
		_ = m.Exports()
		_ = m.MemoryMinPages()
		if err := m.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
