#!/usr/bin/env bash
# tests/fuzz.sh [SECONDS]: runs every cargo-fuzz target in fuzz/ for SECONDS
# each (default 5, the smoke run of tests/run.sh), then prints per target the
# executions and time libFuzzer reports, as a Markdown table. Fails when a
# target finds a crash: libFuzzer's input is then in fuzz/artifacts/<target>/
# and cargo-fuzz prints the command that replays it.
#
# Installs what it needs: the nightly toolchain (libFuzzer's
# instrumentation needs it) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-5}"
case "$seconds" in
  '' | *[!0-9]* | 0) echo "usage: tests/fuzz.sh [SECONDS]  (a whole number above 0)" >&2; exit 2 ;;
esac
targets=(parse_key scope validate request_body)
# The targets are safe Rust, where AddressSanitizer finds nothing that a
# bounds check or overflow check (on in fuzz builds) does not; without it
# the build is faster and each run executes more inputs.
build_flags=(--sanitizer none)

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

# The request_body target keeps a SQLite store in a temporary directory that
# libFuzzer's exit leaves behind: give it one that is removed here.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/tmp"

echo "fuzz: building ${targets[*]}"
cargo +nightly fuzz build "${build_flags[@]}"

failed=()
rows=()
for target in "${targets[@]}"; do
  args=(-max_total_time="$seconds")
  if [ -f "fuzz/dicts/$target.dict" ]; then
    args+=(-dict="fuzz/dicts/$target.dict")
  fi
  echo "fuzz: $target for ${seconds}s"
  log="$scratch/$target.log"
  status=0
  TMPDIR="$scratch/tmp" cargo +nightly fuzz run "${build_flags[@]}" "$target" -- "${args[@]}" \
    >"$log" 2>&1 || status=$?
  # libFuzzer's last line on success: "Done <runs> runs in <seconds> second(s)".
  done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)"
  if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
    echo "fuzz: $target FAILED (exit $status); the end of its log:" >&2
    tail -n 60 "$log" >&2
    failed+=("$target")
    rows+=("| $target | — | — | — | crashed |")
    continue
  fi
  runs="$(echo "$done_line" | awk '{print $2}')"
  took="$(echo "$done_line" | awk '{print $5}')"
  rate=$((runs / (took > 0 ? took : 1)))
  echo "fuzz: $target: $runs runs in ${took}s ($rate/s)"
  rows+=("| $target | $took | $runs | $rate | ok |")
done

echo
echo "| target | seconds | executions | executions/s | result |"
echo "| --- | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
