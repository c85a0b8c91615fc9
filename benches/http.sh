#!/usr/bin/env bash
# HTTP benchmark (BENCHMARKS.md, "HTTP, local server"): POST /verify of
# three valid keys against GET /healthz on the same `keyward serve`, under
# wrk on loopback, alternated round by round: a key with no controls, a
# metered key (one rate limit and credits: one debit per verification) and
# an IP-restricted key (with source_ip). Prints requests/s, p50 and p99 of
# each and each verify route's ratio to healthz in the same round.
#
#   benches/http.sh [--rounds N] [--duration SECONDS] [--threads T]
#                   [--connections C] [--log LEVEL] [--no-build] [--quick]
#                   [--bin PATH] [--perf FILE] [--store dynamodb]
#
# --store dynamodb runs the server as a container would (`serve --store
# dynamodb`) on a fresh table of the DynamoDB-compatible server at
# KEYWARD_TEST_DYNAMODB_ENDPOINT: run it under tests/with-moto.sh. It then
# also counts the DynamoDB requests of 100 verifications of the plain key
# through a second server whose SDK calls go through a counting proxy
# (by X-Amz-Target), and the writes of the usage flush after them.
#
# Defaults: 5 rounds of 5 s per route, wrk with 1 thread and 32
# connections, the server's default log level (info: one line per request).
# --quick is a smoke test (1 round of 1 s), which tests/run.sh runs on the
# debug binary (`--quick --bin target/debug/keyward`). --bin
# measures another build of keyward (a before/after comparison) and skips
# the build. --perf records the server with `perf record -g` during the
# first round's POST /verify run (use a build with symbols:
# `cargo build --profile profiling --bin keyward`, then
# --bin target/profiling/keyward) and prints the top of the report.
#
# On a 2-core machine wrk and the server share the CPUs; 1 wrk thread leaves
# the server most of the second core. Both routes pay the same HTTP, routing
# and logging costs, so the ratio shows what verification adds: JSON in and
# out, the key check, one SQLite read.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 duration=5 threads=1 connections=32 log="" build=1 bin="$PWD/target/release/keyward" perf_out="" store=sqlite
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --log) log="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --bin) bin="$(realpath "$2")" build=0; shift 2 ;;
    --perf) perf_out="$(realpath "$2")"; shift 2 ;;
    --quick) rounds=1 duration=1; shift ;;
    --store) store="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian)" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
command -v curl >/dev/null || apt-get install -y curl >/dev/null

if [ "$build" = 1 ]; then
  cargo build --release --locked --bin keyward >&2
fi

. tests/lib/start-keyward.sh
work="$(mktemp -d)"
trap 'stop_started; rm -rf "$work"' EXIT

export KEYWARD_JWT_SECRET="http-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
if [ -n "$log" ]; then export KEYWARD_LOG="$log"; fi
store_args=()
case "$store" in
  sqlite) ;;
  dynamodb)
    [ -n "${KEYWARD_TEST_DYNAMODB_ENDPOINT:-}" ] ||
      { echo "--store dynamodb needs KEYWARD_TEST_DYNAMODB_ENDPOINT: run it under tests/with-moto.sh" >&2; exit 2; }
    export AWS_ENDPOINT_URL="$KEYWARD_TEST_DYNAMODB_ENDPOINT" AWS_ACCESS_KEY_ID=test \
      AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    export KEYWARD_WEBHOOK_SEALING_KEY="$(head -c 32 /dev/urandom | base64)"
    table="http-bench-$$-$(date +%s)"
    KEYWARD_LOG=warn "$bin" dynamodb create-table --table "$table" >&2
    store_args=(--store dynamodb --table "$table")
    ;;
  *) echo "--store: sqlite or dynamodb" >&2; exit 2 ;;
esac

start_keyward "$bin" "$work" serve "${store_args[@]}"
server=$server_pid base=http://$addr

token="$("$bin" token --sub bench --account bench --all)"
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
app_id="$(curl -sf -X POST "$base/applications" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"bench"}' | json_field "['id']")"
secret="$(curl -sf -X POST "$base/applications/$app_id/keys" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"bench","scopes":[]}' | json_field "['secret']")"
new_key() { # body of POST /applications/{id}/keys -> the secret
  curl -sf -X POST "$base/applications/$app_id/keys" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$1" | json_field "['secret']"
}
# Metered: one limit no run can reach and credits no run can spend, so
# every verification is VALID and pays its debit.
metered="$(new_key '{"name":"metered","rate_limits":[{"name":"minute","limit":1000000000,"window_seconds":60}],"credits":{"remaining":1000000000000}}')"
restricted="$(new_key '{"name":"restricted","allowed_ips":["10.0.0.0/8","192.0.2.0/24","2001:db8::/32"]}')"
body="{\"key\":\"$secret\"}"
metered_body="{\"key\":\"$metered\"}"
ip_body="{\"key\":\"$restricted\",\"source_ip\":\"192.0.2.7\"}"
for b in "$body" "$metered_body" "$ip_body"; do
  verdict="$(curl -sf -X POST "$base/verify" -H 'Content-Type: application/json' -d "$b" | json_field "['code']")"
  [ "$verdict" = VALID ] || { echo "a bench key does not verify: $verdict ($b)" >&2; exit 1; }
done

# wrk prints its own report; done() adds one line of JSON to parse.
cat >"$work/report.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format(
    "JSON {\"requests\":%d,\"seconds\":%f,\"errors\":%d,\"non2xx\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
EOF
post_script() { # name body
  cat >"$work/$1.lua" <<EOF
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
$(cat "$work/report.lua")
EOF
}
post_script verify "$body"
post_script metered "$metered_body"
post_script ip "$ip_body"

run() { # name url script
  wrk -t"$threads" -c"$connections" -d"${duration}s" -s "$3" "$2" | sed -n 's/^JSON //p' |
    python3 -c "import json,sys; r=json.load(sys.stdin); r['name']='$1'; print(json.dumps(r))"
}

results="$work/results.jsonl"
for round in $(seq "$rounds"); do
  # Rotate which route goes first, so none always runs on a warmer (or
  # busier) machine.
  case $((round % 4)) in
    1) order="healthz verify metered ip" ;;
    2) order="ip metered verify healthz" ;;
    3) order="metered healthz ip verify" ;;
    0) order="verify ip healthz metered" ;;
  esac
  for name in $order; do
    if [ "$name" = healthz ]; then run healthz "$base/healthz" "$work/report.lua"
    elif [ "$name" != verify ]; then run "$name" "$base/verify" "$work/$name.lua"
    elif [ -n "$perf_out" ] && [ "$round" = 1 ]; then
      perf record -F 1999 -g -p "$server" -o "$perf_out" -- sleep "$duration" 2>/dev/null &
      recorder=$!
      run verify "$base/verify" "$work/verify.lua"
      wait "$recorder"
    else run verify "$base/verify" "$work/verify.lua"; fi
  done >>"$results"
  echo "round $round of $rounds done" >&2
done

# Any non-2xx answer fails the run: a failed verification would count
# toward the per-source limit and end in 429s, measuring the wrong thing.
BENCH_STORE=$store python3 - "$results" "$rounds" "$duration" "$threads" "$connections" "${KEYWARD_LOG:-info}" <<'EOF'
import json, statistics, sys, os
path, rounds, duration, threads, connections, log = sys.argv[1:]
rows = [json.loads(line) for line in open(path)]
def med(name, field):
    return statistics.median(r[field] for r in rows if r["name"] == name)
routes = (("healthz", "GET /healthz", None),
          ("verify", "POST /verify (key with no controls)", 0.80),
          ("metered", "POST /verify (metered: a rate limit and credits)", 0.50),
          ("ip", "POST /verify (IP-restricted, with source_ip)", 0.80))
rate = {n: statistics.median(r["requests"] / r["seconds"] for r in rows if r["name"] == n)
        for n, _, _ in routes}
# Each route against healthz of the same round (4 runs per round).
ratios = {n: [] for n, _, _ in routes}
for i in range(0, len(rows), 4):
    group = {r["name"]: r["requests"] / r["seconds"] for r in rows[i:i + 4]}
    for n in ratios:
        ratios[n].append(group[n] / group["healthz"])
print(f"store {os.environ.get('BENCH_STORE', 'sqlite')}, "
      f"wrk -t{threads} -c{connections} -d{duration}s, {rounds} alternated rounds, server log level {log}, "
      f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
print("| route | requests/s (median) | p50 | p99 | / healthz (median of rounds, range) | goal |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for n, label, goal in routes:
    if os.environ.get("BENCH_STORE") == "dynamodb":
        goal = None if n == "healthz" else 0  # no goal on an emulator
    r = ratios[n]
    fmt = lambda x: f"{x:.2f}" if x >= 0.1 else f"{x:.4f}"
    ratio = "1" if goal is None else f"{fmt(statistics.median(r))} ({fmt(min(r))}-{fmt(max(r))})"
    print(f"| {label} | {rate[n]:,.0f} | {med(n, 'p50_us') / 1000:.2f} ms | {med(n, 'p99_us') / 1000:.2f} ms "
          f"| {ratio} | {'' if not goal else f'>= {goal:.2f}'} |")
errors = sum(r["errors"] + r["non2xx"] for r in rows)
if errors:
    print(f"socket errors + non-2xx answers: {errors}")
    sys.exit(1)
EOF
if [ -n "$perf_out" ]; then
  echo "perf record of the server during POST /verify: $perf_out; the top (self time):"
  perf report -i "$perf_out" --no-children --stdio --percent-limit 1.5 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -30
fi

# DynamoDB requests per verification: a second server on the same table
# whose SDK calls go through a proxy that counts them by operation.
if [ "$store" = dynamodb ]; then
  cat >"$work/proxy.py" <<'EOF'
import collections, http.server, json, sys, urllib.error, urllib.request
upstream, counts = sys.argv[1], collections.Counter()
class Proxy(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):  # the counts so far, then zero
        body = json.dumps(counts).encode(); counts.clear()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        counts[self.headers.get("X-Amz-Target", "?").split(".")[-1]] += 1
        request = urllib.request.Request(upstream + self.path, data=data, method="POST",
                                         headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(request) as r: status, headers, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e: status, headers, body = e.code, e.headers, e.read()
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
EOF
  python3 "$work/proxy.py" "$KEYWARD_TEST_DYNAMODB_ENDPOINT" >"$work/proxy.port" &
  started_pids+=("$!")
  for _ in $(seq 50); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
  proxied="http://127.0.0.1:$(cat "$work/proxy.port")"
  AWS_ENDPOINT_URL="$proxied" start_keyward "$bin" "$work" counted "${store_args[@]}"
  counted_base=http://$addr
  sleep 1.5
  curl -sf "$proxied/" >/dev/null # start-up's calls (DescribeTable) are not counted
  n=100
  for kind in key metered; do
    if [ "$kind" = key ]; then b=$body; else b=$metered_body; fi
    for _ in $(seq $n); do
      curl -sf -X POST "$counted_base/verify" -H 'Content-Type: application/json' -d "$b" >/dev/null
    done
    during=$(curl -sf "$proxied/")
    sleep 2.5 # the usage flush runs every second
    after=$(curl -sf "$proxied/")
    python3 - "$n" "$kind" "$during" "$after" <<'EOF'
import json, sys
n, kind, during, after = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
per = ", ".join(f"{op} {c / n:.2f}" for op, c in sorted(during.items())) or "none"
flush = ", ".join(f"{op} {c}" for op, c in sorted(after.items())) or "none"
print(f"DynamoDB requests per verification ({n} of a {'metered ' if kind == 'metered' else ''}key, "
      f"one at a time): {per}; then the usage flush: {flush}")
EOF
  done
fi
