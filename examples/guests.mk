# examples/guests.mk: builds the example apps to WebAssembly (WASI preview 1).
# Included from the top Makefile; `make guests` writes build/examples/*.wasm.
#
# Toolchains (Debian packages): Go; clang lld wasi-libc
# libclang-rt-14-dev-wasm32 for C; rustc libstd-rust-dev-wasm32 for Rust.

CLANG        ?= clang
RUSTC        ?= /usr/bin/rustc
GO           ?= go
WASI_SYSROOT ?= /usr
EXAMPLES_OUT ?= $(or $(BUILD),build)/examples

# Where this fragment lives, so it works whatever directory includes it.
EXAMPLES_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# go build wants ./dir for a relative package directory.
examples_go_pkg = $(if $(filter /%,$(EXAMPLES_DIR)),$(EXAMPLES_DIR)/$(1),./$(EXAMPLES_DIR)/$(1))

GO_EXAMPLES   := hello-go notes-go kv-go https-go client-go
C_EXAMPLES    := hello-c spin-c echo-c
RUST_EXAMPLES := hello-rust

examples_wasm = $(addprefix $(EXAMPLES_OUT)/,$(addsuffix .wasm,$(1)))
GUESTS := $(call examples_wasm,$(GO_EXAMPLES) $(C_EXAMPLES) $(RUST_EXAMPLES))

.PHONY: guests guests-clean examples-go-always
guests: $(GUESTS)

$(EXAMPLES_OUT):
	mkdir -p $@

# Go tracks its own dependencies (and caches), so always ask it.
$(call examples_wasm,$(GO_EXAMPLES)): $(EXAMPLES_OUT)/%.wasm: examples-go-always | $(EXAMPLES_OUT)
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -trimpath -o $@ $(call examples_go_pkg,$*)

$(call examples_wasm,$(C_EXAMPLES)): $(EXAMPLES_OUT)/%.wasm: $(EXAMPLES_DIR)/%/main.c | $(EXAMPLES_OUT)
	$(CLANG) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -O2 -o $@ $<

$(call examples_wasm,$(RUST_EXAMPLES)): $(EXAMPLES_OUT)/%.wasm: $(EXAMPLES_DIR)/%/main.rs | $(EXAMPLES_OUT)
	$(RUSTC) --edition 2021 --target wasm32-wasi -O -C strip=debuginfo -o $@ $<

guests-clean:
	rm -f $(GUESTS)
