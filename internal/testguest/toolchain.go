package testguest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Environment variables that pick the compilers. They match the variables
// of examples/guests.mk, except for Rust: RUSTC is often set by cargo to a
// compiler without the wasm32-wasi target, so DONJON_RUSTC is used instead.
const (
	clangEnv   = "CLANG"
	rustcEnv   = "DONJON_RUSTC"
	sysrootEnv = "WASI_SYSROOT"

	defaultRustc   = "/usr/bin/rustc"
	defaultSysroot = "/usr"
)

// Debian packages to install, by language and target.
const (
	debGoPackages       = "golang-go (or Go from go.dev, on PATH)"
	debCWasmPackages    = "clang lld wasi-libc libclang-rt-14-dev-wasm32"
	debCNativePackages  = "clang"
	debRustWasmPackages = "rustc libstd-rust-dev-wasm32"
	debRustNativePkgs   = "rustc libstd-rust-dev"
)

// toolchain compiles one language for one target.
type toolchain struct {
	bin      string
	env      []string // added to the environment of every command
	flags    []string // compiler arguments before the output and input
	identity string   // the compiler's own account of its version
}

// missing reports a tool or file a build needs and what to install.
func missing(what, packages string, err error) error {
	return fmt.Errorf("%s is missing (%v): install it with: apt-get install %s", what, err, packages)
}

func toolchainFor(ctx context.Context, l lang, tgt target) (*toolchain, error) {
	switch l {
	case langGo:
		return goToolchain(ctx, tgt)
	case langC:
		return cToolchain(ctx, tgt)
	case langRust:
		return rustToolchain(ctx, tgt)
	}
	return nil, fmt.Errorf("no toolchain for language %v", l)
}

func goToolchain(ctx context.Context, tgt target) (*toolchain, error) {
	bin, err := exec.LookPath("go")
	if err != nil {
		return nil, missing("the go command", debGoPackages, err)
	}
	tc := &toolchain{bin: bin, env: []string{"CGO_ENABLED=0"}, flags: []string{"build", "-trimpath"}}
	if tgt == targetWasm {
		tc.env = append(tc.env, "GOOS=wasip1", "GOARCH=wasm")
	} else {
		tc.env = append(tc.env, "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	}
	id, err := tc.output(ctx, "env", "GOVERSION", "GOOS", "GOARCH", "GOWASM", "GOAMD64", "GOFLAGS")
	if err != nil {
		return nil, fmt.Errorf("ask go for its version: %w", err)
	}
	tc.identity = id
	return tc, nil
}

func cToolchain(ctx context.Context, tgt target) (*toolchain, error) {
	packages := debCWasmPackages
	if tgt == targetNative {
		packages = debCNativePackages
	}
	name := os.Getenv(clangEnv)
	if name == "" {
		name = "clang"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, missing("the C compiler "+name, packages, err)
	}
	tc := &toolchain{bin: bin, flags: []string{"-O2"}}
	version, err := tc.output(ctx, "--version")
	if err != nil {
		return nil, fmt.Errorf("ask %s for its version: %w", name, err)
	}
	tc.identity = version
	if tgt == targetNative {
		return tc, nil
	}

	if _, err := exec.LookPath("wasm-ld"); err != nil {
		return nil, missing("the WebAssembly linker wasm-ld", "lld", err)
	}
	sysroot := os.Getenv(sysrootEnv)
	if sysroot == "" {
		sysroot = defaultSysroot
	}
	libc := filepath.Join(sysroot, "lib", "wasm32-wasi", "libc.a")
	for _, f := range []string{filepath.Join(sysroot, "include", "wasm32-wasi", "stdio.h"), libc} {
		if _, err := os.Stat(f); err != nil {
			return nil, missing("wasi-libc", "wasi-libc", err)
		}
	}
	tc.flags = append([]string{"--target=wasm32-wasi", "--sysroot=" + sysroot}, tc.flags...)
	builtins, err := tc.output(ctx, "--target=wasm32-wasi", "-print-libgcc-file-name")
	if err != nil {
		return nil, fmt.Errorf("ask %s for its wasm32 runtime library: %w", name, err)
	}
	if _, err := os.Stat(builtins); err != nil {
		return nil, missing("clang's wasm32 runtime library", "libclang-rt-14-dev-wasm32", err)
	}
	// The C library is not part of the compiler's version: stamp it in.
	for _, f := range []string{libc, builtins} {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", f, err)
		}
		tc.identity += fmt.Sprintf("\n%s %d %d", f, st.Size(), st.ModTime().UnixNano())
	}
	return tc, nil
}

func rustToolchain(ctx context.Context, tgt target) (*toolchain, error) {
	packages := debRustWasmPackages
	if tgt == targetNative {
		packages = debRustNativePkgs
	}
	name := os.Getenv(rustcEnv)
	if name == "" {
		name = defaultRustc
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, missing("the Rust compiler "+name, packages, err)
	}
	tc := &toolchain{bin: bin, flags: []string{"--edition", "2021", "-O"}}
	version, err := tc.output(ctx, "-vV")
	if err != nil {
		return nil, fmt.Errorf("ask %s for its version: %w", name, err)
	}
	tc.identity = version
	if tgt == targetNative {
		return tc, nil
	}
	sysroot, err := tc.output(ctx, "--print", "sysroot")
	if err != nil {
		return nil, fmt.Errorf("ask %s for its sysroot: %w", name, err)
	}
	if _, err := os.Stat(filepath.Join(sysroot, "lib", "rustlib", "wasm32-wasi", "lib")); err != nil {
		return nil, missing("Rust's standard library for wasm32-wasi", "libstd-rust-dev-wasm32", err)
	}
	tc.flags = append(tc.flags, "--target", "wasm32-wasi")
	return tc, nil
}

// output runs the toolchain's binary with args and returns its trimmed
// standard output.
func (tc *toolchain) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tc.bin, args...)
	cmd.Env = append(os.Environ(), tc.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", tc.bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// compile builds src into out, running in the module root.
func (tc *toolchain) compile(ctx context.Context, root string, src source, out string) error {
	args := append(append([]string{}, tc.flags...), "-o", out, src.input)
	cmd := exec.CommandContext(ctx, tc.bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), tc.env...)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(err, ctxErr)
		}
		return fmt.Errorf("%s %s (in %s): %w\n%s", filepath.Base(tc.bin), strings.Join(args, " "), root, err, tail(output.String(), 4000))
	}
	return nil
}

// tail keeps the last n bytes of s: a compiler's last words matter most.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
