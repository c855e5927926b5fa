#!/usr/bin/env bash
# Installs the Debian packages donjon's guests and tests are built with, if
# any is missing: clang and wasi-libc (C to wasm32-wasi), rustc with the
# wasm32-wasi standard library (Rust), wabt (wat2wasm, for engine tests),
# curl (the demo's HTTPS client).
set -euo pipefail
packages=(clang lld wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32 wabt curl)
need=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages: ${need[*]}" >&2
	echo "install them with: sudo apt-get install ${need[*]}" >&2
	exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
