#!/usr/bin/env bash
# The web console end to end: `keyward serve` on loopback and Debian's
# Chromium driven by playwright-core (tests/js/console.test.mjs, its
# accessibility checks in console-a11y.test.mjs, its usage control in
# console-usage.test.mjs), its Webhooks page with a loopback receiver
# (console-webhooks.test.mjs), leaked and dormant keys on every page
# (console-leaks.test.mjs), and the console's scope
# matching against the core's cases (console-scope.test.mjs); node --test.
# Screenshots of each page land in target/console-screenshots/.
#
# Needs what tests/wasm.sh installs (chromium, Node 20+, tests/js's
# node_modules) and the debug binary that tests/run.sh's cargo test step
# builds; run alone, it builds the binary itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "tests/console.sh: $*" >&2; exit 1; }

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "no Chromium at $chromium: install Debian's chromium (tests/wasm.sh does), or set CHROMIUM"
command -v node >/dev/null 2>&1 || fail "node is not on PATH (Node.js 20 or newer; tests/wasm.sh checks it)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  fail "Node.js 20 or newer is needed, found $(node --version)"
[ -d tests/js/node_modules/playwright-core ] ||
  fail "tests/js/node_modules has no playwright-core: run npm --prefix tests/js ci (tests/wasm.sh does)"

# cargo decides whether anything changed; after run.sh's cargo test this is
# a no-op. Not `-p keyward`: the workspace's features (keyward-sdk's
# included) are those that build used, and others would compile the AWS
# SDK crates again.
step "the keyward binary: cargo build --bin keyward"
cargo build --bin keyward --locked

step "console tests in Chromium (node --test)"
mkdir -p target/console-screenshots
cd tests/js
# One file at a time: each starts its own server and browser, and the
# timing-sensitive steps (expiry, last used) need the cores.
CHROMIUM="$chromium" node --test --test-concurrency=1 console-scope.test.mjs console.test.mjs console-a11y.test.mjs \
  console-usage.test.mjs console-webhooks.test.mjs console-leaks.test.mjs
echo "screenshots: target/console-screenshots/"
