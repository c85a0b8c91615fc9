# Sourced by the scripts that run a `keyward serve` of their own
# (tests/schemathesis.sh, tests/openapi_clients.sh, benches/http.sh,
# benches/cli.sh).
#
# start_keyward BIN DIR NAME [SERVE ARGUMENTS...]
#   Starts BIN serve on a free loopback port with its data in DIR/data, its
#   stdout and stderr in DIR/NAME.out and DIR/NAME.err, and waits for its
#   "keyward listening on" line. Sets server_pid and addr (host:port); on
#   failure prints the server's stderr and returns 1. Variables given
#   before the call (AWS_ENDPOINT_URL=... start_keyward ...) reach the
#   server. Its pid joins started_pids.
#
# stop_started
#   Ends and reaps every process in started_pids (a script adds its own
#   helpers there too): for the script's EXIT trap.
started_pids=()

stop_started() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

start_keyward() {
  local bin=$1 dir=$2 name=$3
  shift 3
  # The files exist before the server starts: the loop may read first.
  : >"$dir/$name.out"
  : >"$dir/$name.err"
  "$bin" serve --addr 127.0.0.1:0 --data "$dir/data" "$@" >>"$dir/$name.out" 2>>"$dir/$name.err" &
  server_pid=$!
  started_pids+=("$server_pid")
  addr=
  for _ in $(seq 1 100); do
    addr=$(sed -n 's|^keyward listening on http://||p' "$dir/$name.out")
    [ -n "$addr" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "keyward serve did not start:" >&2
  cat "$dir/$name.err" >&2
  return 1
}
