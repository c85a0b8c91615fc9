#!/usr/bin/env bash
# Lambda figures for BENCHMARKS.md: stripped bootstrap and zip sizes, cold
# start against a hello-world lambda_http binary, DynamoDB requests per
# verification. Needs what tests/run.sh installs (.venv with moto_server).
# The Rust side is functions/benches/: lambda.rs (the lambda-bench example)
# and the hello-world baselines hello_lambda.rs and hello_dynamodb.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bins=(verify-key authorizer create-key notify-expiring hello-lambda hello-dynamodb)
args=(); for b in "${bins[@]}"; do args+=(--bin "$b"); done
cargo build --release --features bench-baseline "${args[@]}" --example lambda-bench
echo "binary sizes (release: LTO, one codegen unit, stripped; $(uname -m)):"
for b in "${bins[@]}"; do
  python3 - "$b" <<'PY'
import os, sys, zipfile, tempfile
name = sys.argv[1]
path = f"target/release/{name}"
with tempfile.TemporaryDirectory() as d:
    z = os.path.join(d, "bootstrap.zip")
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as f:
        f.write(path, "bootstrap")
    print(f"  {name:<16} bootstrap {os.path.getsize(path)/1e6:6.2f} MB   zip {os.path.getsize(z)/1e6:6.2f} MB")
PY
done
exec tests/with-moto.sh target/release/examples/lambda-bench
