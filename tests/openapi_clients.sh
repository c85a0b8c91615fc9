#!/usr/bin/env bash
# infra/openapi.yaml through the tools a client of keyward uses, each of
# which must take it without a single warning:
#   1. redocly lint (its recommended rules; tests/openapi_clients/redocly.yaml);
#   2. openapi-python-client generates a Python client, which then runs a
#      key's short life against a live `keyward serve`
#      (tests/openapi_clients/lifecycle.py);
#   3. openapi-typescript generates types, and tsc --strict compiles a
#      consumer of them (tests/openapi_clients/consumer.ts).
#
# Needs target/debug/keyward (tests/run.sh builds it in its cargo test step),
# Python 3.11 or newer and Node.js 20 or newer. Installs the rest on a fresh
# machine: openapi-python-client into .venv, and tests/openapi_clients'
# npm packages (redocly, openapi-typescript, typescript) from its lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

keyward=${KEYWARD_BIN:-target/debug/keyward}
clients=tests/openapi_clients
document=infra/openapi.yaml
step() { printf '\n--> %s\n' "$*"; }
fail() { echo "openapi_clients.sh: $*" >&2; exit 1; }
[ -x "$keyward" ] || fail "$keyward is missing (cargo build --bin keyward)"

# The generator's own major range; tests/run.sh installs the same.
if [ ! -x .venv/bin/openapi-python-client ]; then
  step "pip: openapi-python-client into .venv"
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'openapi-python-client>=0.29,<0.30'
fi

# Skipped when node_modules matches package-lock.json already.
stamp=$clients/node_modules/.keyward-lock-sha256
want=$(sha256sum "$clients/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "npm ci in $clients"
  npm --prefix "$clients" ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi

. tests/lib/start-keyward.sh
work=$(mktemp -d)
trap 'stop_started; rm -rf "$work"' EXIT

step "redocly lint: no error, no warning"
# No telemetry and no update check: neither is part of the result, and
# both would reach out of the machine.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
"$clients/node_modules/.bin/redocly" lint --config "$clients/redocly.yaml" \
  --format=json "$document" >"$work/lint.json" 2>"$work/lint.err" || true
node - "$work/lint.json" <<'JS' || { cat "$work/lint.err" >&2; exit 1; }
const report = JSON.parse(require("node:fs").readFileSync(process.argv[2], "utf8"));
for (const p of report.problems) {
  const where = p.location.map((l) => l.pointer).join(", ");
  console.error(`${p.severity} ${p.ruleId}: ${p.message} (${where})`);
}
const { errors, warnings, ignored } = report.totals;
console.log(`redocly ${report.version}: ${errors} errors, ${warnings} warnings, ${ignored} ignored`);
process.exit(errors + warnings === 0 ? 0 : 1);
JS

step "openapi-python-client generate: no warning"
# On PATH for the generator's ruff step, which formats what it generates.
PATH="$PWD/.venv/bin:$PATH" .venv/bin/openapi-python-client generate \
  --path "$document" --meta none --output-path "$work/python/keyward_client" \
  >"$work/generate.out" 2>&1 || { cat "$work/generate.out" >&2; fail "the generator failed"; }
# Its wording for anything it skipped or could not type: "Warning(s)
# encountered while generating", "... will be omitted from generated client",
# "Cannot parse ...", "ruff is not in PATH".
if grep -qiE 'warning|omitted|cannot|unable|not in PATH|skipping|error' "$work/generate.out"; then
  cat "$work/generate.out" >&2
  fail "openapi-python-client did not take $document cleanly"
fi
cat "$work/generate.out"

step "the generated Python client against a live keyward serve"
KEYWARD_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYWARD_JWT_SECRET KEYWARD_LOG=${KEYWARD_LOG:-warn}
start_keyward "$keyward" "$work" server
token=$("$keyward" token --data "$work/data" --sub openapi-clients --account openapi-clients \
  --all --permissions 'sims:read' --mfa --ttl 10m)
PYTHONPATH="$work/python" .venv/bin/python "$clients/lifecycle.py" "http://$addr" "$token"
if grep -q 'panicked\|internal error' "$work/server.err"; then
  grep 'panicked\|internal error' "$work/server.err" >&2
  fail "the server logged a panic or an internal error"
fi

step "openapi-typescript, then tsc --strict on a consumer"
mkdir "$work/ts"
cp "$clients/consumer.ts" "$clients/tsconfig.json" "$work/ts/"
"$clients/node_modules/.bin/openapi-typescript" "$document" -o "$work/ts/keyward.d.ts" \
  >"$work/typescript.out" 2>&1 || { cat "$work/typescript.out" >&2; fail "openapi-typescript failed"; }
if grep -qiE 'warn|error' "$work/typescript.out"; then
  cat "$work/typescript.out" >&2
  fail "openapi-typescript did not take $document cleanly"
fi
"$clients/node_modules/.bin/tsc" -p "$work/ts" --strict --noEmit
echo "tsc --strict: the consumer compiles, and each @ts-expect-error is an error"
