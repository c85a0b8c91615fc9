#!/usr/bin/env bash
# Builds the `keyward serve` container image (infra/container/Containerfile,
# README.md "Run in containers"): a static x86_64 musl binary compiled on
# this machine, then a FROM scratch image holding it, the host's CA bundle
# and nothing else.
#
#   infra/container/build.sh [--tag NAME] [--no-build] [--save FILE]
#
# --tag names the image (default keyward:<version>, also tagged
# keyward:latest); --no-build skips cargo and packs the binary built last;
# --save also writes the image as an OCI archive, for `podman load` or
# `docker load` elsewhere.
#
# Needs the Rust target (`rustup target add x86_64-unknown-linux-musl`),
# musl-gcc for the C parts (SQLite and ring; Debian and Ubuntu:
# `apt-get install musl-tools`) and podman (or CONTAINER=docker). The
# release profile links with fat LTO: about 15 minutes on 2 shared cores
# from nothing, most of it compiling dependencies; CARGO_TARGET_DIR is
# honoured.
set -euo pipefail
cd "$(dirname "$0")/../.."

target=x86_64-unknown-linux-musl
tag="" build=1 save=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --save) save="$2"; shift 2 ;;
    *) echo "usage: $0 [--tag NAME] [--no-build] [--save FILE]" >&2; exit 2 ;;
  esac
done
container="${CONTAINER:-podman}"
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if [ "$build" = 1 ]; then
  # cc-rs would look for x86_64-linux-musl-gcc, which Debian does not ship.
  CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}" \
    cargo build --locked --release --target "$target" -p keyward --bin keyward
fi
bin="${CARGO_TARGET_DIR:-target}/$target/release/keyward"
[ -x "$bin" ] || { echo "no binary at $bin (run without --no-build)" >&2; exit 1; }

# FROM scratch has no dynamic loader or libc: a binary that needs them
# would fail in the container with a bare "no such file or directory".
if ! file -L "$bin" | grep -Eq 'statically linked|static-pie linked'; then
  echo "$bin is not statically linked:" >&2
  file -L "$bin" >&2
  exit 1
fi
[ -s "$ca_bundle" ] || { echo "no CA bundle at $ca_bundle (set CA_BUNDLE)" >&2; exit 1; }

# `keyward 0.1.0` -> 0.1.0; running it also shows the binary starts.
version="$("$bin" --version | awk '{print $2}')"
[ -n "$tag" ] || tag="keyward:$version"

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$bin" "$context/keyward"
cp "$ca_bundle" "$context/ca-certificates.crt"
"$container" build --file infra/container/Containerfile --build-arg "VERSION=$version" \
  --tag "$tag" "$context"
case "$tag" in
  keyward:*) [ "$tag" = keyward:latest ] || "$container" tag "$tag" keyward:latest ;;
esac
if [ -n "$save" ]; then
  rm -f "$save"
  if [ "$container" = podman ]; then
    podman save --format oci-archive --output "$save" "$tag"
  else
    "$container" save --output "$save" "$tag"
  fi
fi
"$container" image inspect "$tag" --format '{{.Id}} {{.Size}} bytes, user {{.Config.User}}, entrypoint {{.Config.Entrypoint}} {{.Config.Cmd}}'
