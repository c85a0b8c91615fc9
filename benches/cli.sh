#!/usr/bin/env bash
# CLI start-up (BENCHMARKS.md, "The CLI"): the wall time of `keyward keys
# list APP` against a local `keyward serve`, beside `keyward --version` (the
# process alone: start, parse, exit) and curl of the same request (the
# request alone, from another small process), alternated run by run.
#
#   benches/cli.sh [--runs N] [--bin PATH]
#
# Defaults: 200 runs of each, target/release/keyward (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=200 bin="$PWD/target/release/keyward"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --bin) bin="$(realpath "$2")"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || cargo build --release --locked --bin keyward >&2
command -v curl >/dev/null || { echo "benches/cli.sh needs curl" >&2; exit 2; }

. tests/lib/start-keyward.sh
work="$(mktemp -d)"
trap 'stop_started; rm -rf "$work"' EXIT

export KEYWARD_JWT_SECRET="cli-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export KEYWARD_LOG=warn
start_keyward "$bin" "$work" serve
base=http://$addr

export KEYWARD_API="$base"
KEYWARD_TOKEN="$("$bin" token --sub bench --account bench --all)"
export KEYWARD_TOKEN
app="$("$bin" apps create --name bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
for n in 1 2 3 4 5; do "$bin" keys create "$app" --name "k$n" --json >/dev/null 2>&1; done

python3 - "$bin" "$base" "$app" "$runs" <<'EOF'
import os, statistics, subprocess, sys, time
bin, base, app, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
token = os.environ["KEYWARD_TOKEN"]
commands = {
    "keyward --version": [bin, "--version"],
    f"keyward keys list APP (5 keys)": [bin, "keys", "list", app],
    "curl GET /applications/APP/keys": ["curl", "-sf", "-H", f"Authorization: Bearer {token}",
                                        f"{base}/applications/{app}/keys"],
}
times = {name: [] for name in commands}
for i in range(runs):
    # Rotate the order, so none always runs first.
    names = list(commands)
    names = names[i % 3:] + names[:i % 3]
    for name in names:
        start = time.perf_counter()
        done = subprocess.run(commands[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append((time.perf_counter() - start) * 1000)
        if done.returncode != 0:
            sys.exit(f"{name} failed with {done.returncode}")
print(f"{runs} alternated runs each, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
print("| command | median | p90 |")
print("| --- | ---: | ---: |")
for name, t in times.items():
    t.sort()
    print(f"| {name} | {statistics.median(t):.2f} ms | {t[int(len(t) * 0.9)]:.2f} ms |")
EOF
