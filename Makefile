# donjon: `make demo` shows it working, `make test` runs every test.
GO        ?= go
BUILD     ?= build
DONJON    := $(BUILD)/donjon
STATICCHECK_VERSION := v0.8.2

.PHONY: all build deps demo test lint fuzz bench clean wasi-testsuite

all: build

build:
	$(GO) build -o $(DONJON) ./cmd/donjon

include examples/guests.mk

# The Debian packages the C and Rust guests are built with (root installs
# them; anyone else is told the apt-get command).
deps:
	@bash scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory build guests
	@bash scripts/demo.sh $(DONJON) $(BUILD)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

test: lint
	$(GO) test -count=1 ./...

# Runs each fuzz target for FUZZTIME (the seeds run in `make test`).
FUZZTIME ?= 30s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

bench: build
	$(GO) run ./bench -donjon $(DONJON)

clean:
	rm -rf $(BUILD)

# The WebAssembly wasi-testsuite (branch prod/testsuite-base), run in process
# on donjon's WASI. Its binaries are not in this repository: point
# WASI_TESTSUITE at the tests/ directory of a local copy.
wasi-testsuite:
	@test -n "$(WASI_TESTSUITE)" || { echo "set WASI_TESTSUITE=/path/to/wasi-testsuite/tests"; exit 2; }
	@out=$$(mktemp) && { WASI_TESTSUITE=$(abspath $(WASI_TESTSUITE)) $(GO) test -count=1 -v -run 'TestWASITestsuite' ./wasi >"$$out" 2>&1; rc=$$?; \
	grep -E '^\s+--- (PASS|FAIL|SKIP)|: expected failure on a sealed directory|^(ok|FAIL|PASS)' "$$out"; \
	if [ $$rc -ne 0 ]; then echo "failures in full:"; grep -vE '^=== (RUN|PAUSE|CONT)|^\s+--- PASS' "$$out"; fi; \
	rm -f "$$out"; exit $$rc; }
