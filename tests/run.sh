#!/usr/bin/env bash
# keyward's one test command: installs what it needs on a fresh machine,
# then runs every check and every test. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every DynamoDB and Lambda test runs here: a missing moto_server fails
# them rather than skipping them (functions/tests/support/moto.rs).
export KEYWARD_REQUIRE_MOTO=1

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: rustfmt, clippy, the wasm32 target"
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
  rustup target add wasm32-unknown-unknown
fi

if ! command -v jq >/dev/null 2>&1; then
  step "apt: jq (the README's walk-through, which the CLI tests run, uses it)"
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y --no-install-recommends jq ||
    { as_root apt-get update && as_root apt-get install -y --no-install-recommends jq; }
fi

step "python tools: moto_server (a DynamoDB/SNS-compatible server), cfn-lint, schemathesis, checkov, standardwebhooks (the webhook receiver's checks), detect-secrets (the scanner plugin's) and openapi-python-client, in .venv"
# checkov is pinned: its releases add checks, and a new failing check
# should come with a deliberate version bump, not a red run.
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ] || [ ! -x .venv/bin/schemathesis ] || [ ! -x .venv/bin/checkov ] \
  || ! .venv/bin/python -c 'import standardwebhooks' 2>/dev/null || [ ! -x .venv/bin/detect-secrets ] \
  || [ ! -x .venv/bin/openapi-python-client ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6' 'cfn-lint>=1,<2' 'schemathesis>=4,<5' 'checkov==3.3.30' 'standardwebhooks>=1.0,<2' 'detect-secrets>=1.5,<2' 'openapi-python-client>=0.29,<0.30'
fi

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --features keyward/bench-baseline --locked -- -D warnings

step "infra/template.yaml passes cfn-lint"
.venv/bin/cfn-lint infra/template.yaml

step "infra/template.yaml passes checkov (infra/.checkov.yaml: every skip with its reason)"
.venv/bin/checkov --config-file infra/.checkov.yaml

step "cargo audit: Cargo.lock and fuzz/Cargo.lock against the RustSec database in ../shared/advisory-db"
# Built from crates.io once per machine and kept in ~/.cargo/bin; without
# the default binary-scanning feature, which this check does not use, and
# unoptimised without debug info: it reads two lock files, and an optimised
# build takes several times as long on two cores (RELIABILITY.md).
# .cargo/audit.toml lists the ignored advisories with their reasons.
cargo_audit_version=0.22.2
if [ "$(cargo audit --version 2>/dev/null | awk '{print $NF}')" != "$cargo_audit_version" ]; then
  CARGO_PROFILE_DEV_DEBUG=0 cargo install --debug --locked --no-default-features \
    cargo-audit --version "$cargo_audit_version"
fi
for lockfile in Cargo.lock fuzz/Cargo.lock; do
  cargo audit --db ../shared/advisory-db --no-fetch --stale --deny warnings --file "$lockfile"
done

step "the pure core builds for wasm32-unknown-unknown"
cargo build -p wasm-validator --target wasm32-unknown-unknown --locked

step "every test (with moto_server on a free loopback port)"
tests/with-moto.sh cargo test --workspace --locked --lib --test '*' --benches

step "keyward-sdk's doc tests: the examples in its documentation compile and run"
cargo test --locked -p keyward-sdk --doc

step "the HTTP end-to-end and CLI suites again, every server on serve --store dynamodb (moto): the container path"
# The same binaries, no rebuild (--workspace as above: with -p keyward,
# cargo would resolve features without keyward-sdk's moka, whose uuid
# feature the AWS SDK crates share, and compile those again).
# functions/tests/support/local_server.rs gives each server a fresh table
# made by `keyward dynamodb create-table`.
# Left to the SQLite run, with the reason (docs/ARCHITECTURE.md, "Local server"):
# bursts of concurrent writes and the long authorization matrix, which
# moto (one request at a time, slower as a table grows) cannot serve
# within the SDK's 3 s operation timeout, and whose store-level rules the
# store conformance and metering suites check on moto; SQLite's own crash
# durability; and webhook delivery, which on DynamoDB is deliver-events'
# (tests lambda_functions).
KEYWARD_TEST_SERVE_STORE=dynamodb tests/with-moto.sh cargo test --workspace --locked --test http_e2e --test cli -- \
  --skip authorization_matrix --skip durability:: --skip limits::limits_hold_under_thirty_parallel_creates \
  --skip offboarding::offboarding_while_the_user_is_creating_leaves_nothing_working \
  --skip webhooks::webhooks_deliveries_lists_what_was_sent

step "fuzz smoke run: each cargo-fuzz target for a few seconds"
bash tests/fuzz.sh 5

step "schemathesis: the OpenAPI document against the local server"
bash tests/schemathesis.sh

step "the OpenAPI document through redocly lint, openapi-python-client (a lifecycle against the local server) and openapi-typescript with tsc --strict, without a warning"
bash tests/openapi_clients.sh

step "the WebAssembly package: build it, then the same verdict vectors in Node, Chromium and workerd"
bash tests/wasm.sh

step "the TypeScript SDK: packed, then its client, Hono (Node, workerd) and Express middleware against a live keyward"
bash tests/sdk_typescript.sh

step "the console in Chromium"
bash tests/console.sh

# Last, because the feature that builds the hello-world baselines makes
# cargo rebuild the keyward crate once; the earlier steps share one build.
step "the Lambda and HTTP benchmarks: one short round each, on debug builds (BENCHMARKS.md has the release figures)"
cargo build --locked --features bench-baseline --example lambda-bench \
  --bin keyward --bin verify-key --bin authorizer --bin hello-lambda --bin hello-dynamodb
KEYWARD_BENCH_RUNS=1 KEYWARD_BENCH_BIN_DIR=target/debug tests/with-moto.sh target/debug/examples/lambda-bench
bash benches/http.sh --quick --bin target/debug/keyward
