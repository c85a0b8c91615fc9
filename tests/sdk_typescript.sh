#!/usr/bin/env bash
# The TypeScript SDK (sdk/typescript, npm @keyward/sdk), tested as users get
# it: builds the SDK (types generated from infra/openapi.yaml, then ES
# module and CommonJS builds), packs it and the WebAssembly validator with
# `npm pack`, installs both tarballs into the test project
# (sdk/typescript/tests, whose own packages come from its lock file), and
# runs its tests with node --test: the client's lifecycle against a live
# `keyward serve`, the Hono middleware on Node and in workerd and the
# Express middleware for every verdict code in both modes, the record
# cache, tsc --strict of a consumer project; then one short round of the
# middleware benchmark. tests/run.sh calls it after tests/wasm.sh.
#
# Needs Node.js 20 or newer, target/debug/keyward (or KEYWARD_BIN; built
# here when missing) and wasm-validator/pkg (built here when missing, which
# needs the tools tests/wasm.sh installs). Idempotent: npm ci runs only
# when a lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--> %s\n' "$*"; }
fail() { echo "sdk_typescript.sh: $*" >&2; exit 1; }
sdk=sdk/typescript

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null ||
  fail "needs Node.js 20 or newer (node and npm on PATH)"

KEYWARD_BIN=${KEYWARD_BIN:-target/debug/keyward}
if [ ! -x "$KEYWARD_BIN" ]; then
  step "cargo build --bin keyward"
  cargo build --locked --bin keyward
fi
# Absolute: the tests run from sdk/typescript/tests.
KEYWARD_BIN=$(realpath "$KEYWARD_BIN")
export KEYWARD_BIN
if [ ! -f wasm-validator/pkg/package.json ]; then
  step "build the WebAssembly package: npm --prefix wasm-validator run build"
  npm --prefix wasm-validator run build
fi

# npm ci when node_modules does not match the lock file (as tests/wasm.sh).
install() {
  local dir=$1 stamp=$1/node_modules/.keyward-lock-sha256 want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    npm --prefix "$dir" ci --no-audit --no-fund
    echo "$want" >"$stamp"
  else
    echo "$dir: up to date"
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "npm ci in $sdk and in $sdk/tests"
install "$sdk"
install "$sdk/tests"

step "build @keyward/sdk (openapi-typescript from infra/openapi.yaml, tsc to ES modules and CommonJS)"
npm --prefix "$sdk" run build

step "npm pack the SDK and the WebAssembly validator, install both tarballs into $sdk/tests"
# The packed files, not the folders: what a user installs.
(cd "$sdk" && npm pack --silent --pack-destination "$work" >/dev/null)
(cd wasm-validator/pkg && npm pack --silent --pack-destination "$work" >/dev/null)
# --no-save: the tarballs change with every build, and the test project's
# lock file pins only what comes from the registry.
npm --prefix "$sdk/tests" install --no-save --no-audit --no-fund "$work"/keyward-sdk-*.tgz "$work"/keyward-wasm-validator-*.tgz

step "the SDK's tests (node --test): client, Hono on Node and in workerd, Express, cache, consumer"
(cd "$sdk/tests" && node --test --test-concurrency=2 consumer.test.mjs middleware.test.mjs workerd.test.mjs cache.test.mjs)

step "the middleware benchmark, one short round (BENCHMARKS.md has the figures)"
node "$sdk/bench/middleware.mjs" --quick
