#!/usr/bin/env bash
# The quick-start demo: runs the example workloads in keeps on this machine.
# Usage: scripts/demo.sh path/to/donjon build-dir
set -euo pipefail
donjon=$1
build=$2
work=$(mktemp -d)
pids=()
cleanup() {
	# Stop what the demo started (keeps on SIGINT, the steward on SIGTERM),
	# then remove its files: nothing is left running.
	for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "What can this machine protect?"
show "$donjon" platform info

step "Hello from three languages, each in its own keep"
for lang in go c rust; do
	show "$donjon" run --config "examples/hello-$lang/Donjon.toml" "$build/examples/hello-$lang.wasm" -- from the demo
done

step "A workload keeps its data in a sealed directory across runs"
mkdir "$work/notes"
show "$donjon" run --dir "$work/notes:/data" "$build/examples/notes-go.wasm" add "first note"
show "$donjon" run --dir "$work/notes:/data" "$build/examples/notes-go.wasm" add "second note"
show "$donjon" run --dir "$work/notes:/data" "$build/examples/notes-go.wasm" list
echo "On the host, the notes are encrypted: names and contents."
show ls -A "$work/notes"
if grep -rq "first note" "$work/notes"; then
	echo "demo: the notes are on the host in plaintext" >&2
	exit 1
fi
echo "grep finds no note text on the host."
echo "Another workload cannot open them:"
status=0
show "$donjon" run --dir "$work/notes:/data" "$build/examples/hello-go.wasm" || status=$?
echo "exit status $status (125: wrong key for the sealed directory)"
[ "$status" -eq 125 ]

step "Limits: a guest that never stops is stopped"
status=0
show "$donjon" run --timeout 1s "$build/examples/spin-c.wasm" || status=$?
echo "exit status $status (124: the wall-clock limit stopped it)"
[ "$status" -eq 124 ]

step "The mission: an attested HTTPS service, verified before a byte is sent"
cat >"$work/policy.toml" <<'POLICY'
# A development policy: no TEE on this machine, so the nil backend is
# accepted (and labelled insecure everywhere). Production policies list
# snp and tdx only: see docs/policy.md.
platforms = ["nil", "snp", "tdx"]
[workload]
any_module = true
[certificate]
names = ["localhost", "127.0.0.1"]
POLICY
echo "\$ $donjon steward serve --policy policy.toml --state-dir steward --listen 127.0.0.1:0 &"
"$donjon" steward serve --policy "$work/policy.toml" --state-dir "$work/steward" --listen 127.0.0.1:0 --kds-url none \
	>"$work/steward.out" 2>"$work/steward.log" &
pids+=($!)
steward=
for _ in $(seq 100); do
	steward=$(sed -n 's/^donjon steward: serving //p' "$work/steward.out")
	[ -n "$steward" ] && break
	sleep 0.1
done
[ -n "$steward" ] || { cat "$work/steward.log"; echo "the steward did not start" >&2; exit 1; }
echo "steward at $steward; relying parties trust only steward/ca.pem"

echo "\$ $donjon run --steward $steward --config examples/https-go/Donjon.toml $build/examples/https-go.wasm &"
"$donjon" run --steward "$steward" --config examples/https-go/Donjon.toml "$build/examples/https-go.wasm" 2>"$work/keep.log" &
pids+=($!)
ca="$work/steward/ca.pem"
for _ in $(seq 600); do
	curl --silent --cacert "$ca" https://localhost:8443/hello >/dev/null 2>&1 && break
	kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/keep.log"; echo "the keep stopped" >&2; exit 1; }
	sleep 0.1
done

step "Who is serving localhost:8443? Verify before sending anything"
show "$donjon" verify --ca "$ca" --allow-insecure localhost:8443

step "An ordinary HTTPS client that trusts only the steward's CA"
show curl --silent --show-error --cacert "$ca" https://localhost:8443/
show curl --silent --show-error --cacert "$ca" --data "secret order #1" https://localhost:8443/echo
echo

step "Another keep dials it: TLS both ways, checked by the keep, plaintext to the program"
show "$donjon" run --steward "$steward" --config examples/client-go/Donjon.toml "$build/examples/client-go.wasm" /hello

step "Plaintext is refused on the wire"
status=0
show curl --silent --show-error --max-time 5 http://localhost:8443/hello || status=$?
echo "curl exit status $status: the keep speaks only TLS 1.3"
[ "$status" -ne 0 ]

step "Done: nothing is left running."
