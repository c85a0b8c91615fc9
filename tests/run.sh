#!/usr/bin/env bash
# keyward's one test command: installs what it needs on a fresh machine,
# then runs every check and every test. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: rustfmt, clippy, the wasm32 target"
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
  rustup target add wasm32-unknown-unknown
fi

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the pure core builds for wasm32-unknown-unknown"
cargo build -p wasm-validator --target wasm32-unknown-unknown --locked

step "every test"
cargo test --workspace --locked
