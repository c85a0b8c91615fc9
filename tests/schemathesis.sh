#!/usr/bin/env bash
# infra/openapi.yaml against the real local server: schemathesis generates
# requests from the document (valid and invalid ones, then stateful sequences
# that follow the document's links) and fails on any 5xx, any answer the
# document does not describe, and any check of `--checks all`.
#
# Needs target/debug/keyward (tests/run.sh builds it in its cargo test step),
# .venv/bin/schemathesis and Python's `cryptography` in .venv (tests/run.sh
# installs them; moto depends on cryptography).
# SCHEMATHESIS_MAX_EXAMPLES (default 100) bounds the examples per operation
# and phase (about a minute on two cores); SCHEMATHESIS_SEED (fixed by
# default, so a run is reproducible) picks another sample;
# SCHEMATHESIS_REPORT_DIR keeps the JUnit and HAR reports.
set -euo pipefail
cd "$(dirname "$0")/.."

keyward=${KEYWARD_BIN:-target/debug/keyward}
schemathesis=.venv/bin/schemathesis
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-100}
for tool in "$keyward" "$schemathesis"; do
  [ -x "$tool" ] || { echo "schemathesis.sh: $tool is missing" >&2; exit 1; }
done

. tests/lib/start-keyward.sh
work=$(mktemp -d)
trap 'stop_started; rm -rf "$work"' EXIT

# A fresh secret and store for every run, so earlier runs leave nothing.
KEYWARD_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYWARD_JWT_SECRET
# Limits high enough that generated creations keep succeeding, so the
# stateful phase reaches keys. The failed-verification limit is small with
# a 1-second window: generated keys fail, so 429 (and its Retry-After) is
# answered and checked in bursts, and verification works again a second
# later.
export KEYWARD_MAX_ACTIVE_APPLICATIONS=1000 KEYWARD_MAX_ACTIVE_KEYS=1000 KEYWARD_MAX_WEBHOOKS=100
# Generated webhooks point at invented public hosts: this server delivers
# nothing (no DNS lookups or connections out of the test machine).
export KEYWARD_DELIVER_EVENTS=false
export KEYWARD_VERIFY_FAILURE_LIMIT=20 KEYWARD_VERIFY_FAILURE_WINDOW_SECONDS=1
export KEYWARD_LOG=${KEYWARD_LOG:-warn}
# GitHub's secret scanning route is served (not 503) with a throwaway P-256
# key of this run in GitHub's `public_keys` form. Schemathesis cannot sign,
# so every request it sends there is refused with 401 INVALID_SIGNATURE,
# as documented, before its body is read (schemathesis then warns that the
# operation answered only 401: expected).
KEYWARD_GITHUB_SCANNING_KEYS=$(.venv/bin/python - <<'PY'
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

public = ec.generate_private_key(ec.SECP256R1()).public_key()
pem = public.public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
print(json.dumps({"public_keys": [{"key_identifier": "schemathesis", "key": pem, "is_current": True}]}))
PY
)
export KEYWARD_GITHUB_SCANNING_KEYS

start_keyward "$keyward" "$work" server
base=http://$addr

# The tester is a user with every management permission in its own account.
export SCHEMATHESIS_TESTER_SUB=schemathesis-tester
token=$("$keyward" token --data "$work/data" --sub "$SCHEMATHESIS_TESTER_SUB" --account schemathesis --all --mfa --ttl 1h)

# One application with one key, so the store holds real objects from the
# first request on (the stateful phase makes more through the links).
# Python from the venv rather than curl: nothing else to install.
.venv/bin/python - "$base" "$token" <<'PY'
import json
import sys
import urllib.request

base, token = sys.argv[1], sys.argv[2]


def post(path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201, response.status
        return json.load(response)


app = post("/applications", {"name": "schemathesis", "description": "made by tests/schemathesis.sh"})
post(f"/applications/{app['id']}/keys", {"name": "schemathesis", "scopes": ["keys:view:any"]})
PY

# Every check but `use_after_free`, which wants a deleted resource to be
# 404 at once: `DELETE /keys/{id}` revokes, and the key stays readable as
# `revoked` until the retention purge (docs/ARCHITECTURE.md, statuses), as the
# document says. `DELETE /users/{id}` has no read to compare.
config=tests/schemathesis.toml

# One worker: hypothesis parses source files with `ast` while it describes
# strategies, and CPython 3.11's `ast` can raise a spurious "AST constructor
# recursion depth mismatch" under threads (python/cpython#106905); a run
# with two workers stopped on it once.
started=$(date +%s)
status=0
SCHEMATHESIS_HOOKS=tests/schemathesis_hooks.py "$schemathesis" --config-file "$config" \
  run infra/openapi.yaml \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --exclude-checks use_after_free \
  --max-examples "$max_examples" \
  --seed "${SCHEMATHESIS_SEED:-20261123}" \
  --workers 1 \
  --generation-database none \
  --no-color \
  --report junit,har --report-dir "${SCHEMATHESIS_REPORT_DIR:-$work/report}" || status=$?
echo "schemathesis: exit $status after $(($(date +%s) - started)) s"

if grep -q 'panicked\|internal error' "$work/server.err"; then
  echo "schemathesis.sh: the server logged a panic or an internal error:" >&2
  grep 'panicked\|internal error' "$work/server.err" >&2
  status=1
fi
exit "$status"
