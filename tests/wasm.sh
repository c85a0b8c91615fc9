#!/usr/bin/env bash
# The WebAssembly validator, end to end: installs what it needs on a fresh
# Debian machine (binaryen's wasm-opt, chromium, the wasm32 target,
# wasm-bindgen-cli at the version Cargo.lock pins, the JS test packages),
# builds the npm package (npm --prefix wasm-validator run build), then runs
# the JS tests with node --test: Node, Chromium and workerd, all on
# tests/verdict_vectors.json, and the consumer matrix (the packed package
# installed into fresh projects: Node 18 and current, TypeScript, esbuild
# bundles in Chromium). tests/run.sh calls it.
#
# Idempotent: a second run installs nothing and only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v wasm-opt >/dev/null 2>&1 || missing+=(binaryen)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists are refreshed only when the install needs it.
  as_root apt-get install -y --no-install-recommends "${missing[@]}" ||
    { as_root apt-get update && as_root apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "tests/wasm.sh needs Node.js 20 or newer (node and npm on PATH)" >&2
  exit 1
fi

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup: the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen crate's version.
bindgen=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
  step "cargo install wasm-bindgen-cli $bindgen"
  # With its own lock file when that resolves, else with today's compatible
  # versions of its dependencies (the CLI's output depends only on its own
  # version).
  cargo install wasm-bindgen-cli --version "$bindgen" --locked --force ||
    cargo install wasm-bindgen-cli --version "$bindgen" --force
fi

step "build the npm package: npm --prefix wasm-validator run build"
npm --prefix wasm-validator run build

# tests/js links the built package (a file: dependency), so this comes after
# the build. tests/js/consumers holds Node 18 for the consumer matrix (a
# folder of its own: its node must not come first on the PATH of tests/js's
# npm scripts; npm skips it on machines other than Linux x64, and those
# tests say so). Each is skipped when node_modules matches its lock already.
install() {
  local dir=$1 stamp=$1/node_modules/.keyward-lock-sha256 want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || { [ -n "${2:-}" ] && [ ! -e "$dir/node_modules/$2" ]; }; then
    npm --prefix "$dir" ci --no-audit --no-fund
    mkdir -p "$dir/node_modules"
    echo "$want" >"$stamp"
  else
    echo "$dir: up to date"
  fi
}
step "tests/js: npm ci"
install tests/js @keyward/wasm-validator
install tests/js/consumers

step "JS tests: Node, Chromium, workerd, the consumer matrix (node --test)"
cd tests/js
node --test node.test.mjs prepared.test.mjs chromium.test.mjs workerd.test.mjs consumers.test.mjs
