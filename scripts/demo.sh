#!/usr/bin/env bash
# The quick-start demo: runs the example workloads in keeps on this machine.
# Usage: scripts/demo.sh path/to/donjon build-dir
set -euo pipefail
donjon=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "What can this machine protect?"
show "$donjon" platform info

step "Hello from three languages, each in its own keep"
for lang in go c rust; do
	show "$donjon" run --config "examples/hello-$lang/Donjon.toml" "$build/examples/hello-$lang.wasm" -- from the demo
done

step "A workload keeps its data in a directory across runs"
mkdir "$work/notes"
show "$donjon" run --plain-dir "$work/notes:/data" "$build/examples/notes-go.wasm" add "first note"
show "$donjon" run --plain-dir "$work/notes:/data" "$build/examples/notes-go.wasm" add "second note"
show "$donjon" run --plain-dir "$work/notes:/data" "$build/examples/notes-go.wasm" list

step "Limits: a guest that never stops is stopped"
status=0
show "$donjon" run --timeout 1s "$build/examples/spin-c.wasm" || status=$?
echo "exit status $status (124: the wall-clock limit stopped it)"
[ "$status" -eq 124 ]

step "Done: nothing is left running."
