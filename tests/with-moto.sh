#!/usr/bin/env bash
# Runs a command with moto_server (from .venv) on a free loopback port, its
# address in KEYWARD_TEST_DYNAMODB_ENDPOINT; stops the server afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python tests/moto_server.py 127.0.0.1 "$port" >"${TMPDIR:-/tmp}/keyward-moto-$port.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
export KEYWARD_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
"$@"
