#!/usr/bin/env bash
# kftpd on object storage, measured: starts a throwaway single-node Garage on loopback,
# creates a bucket and a key, builds release binaries, and runs
#   kftp-bench --only s3
# (RETR and STOR through kftpd vs the same transfers made directly on the store, listing
# of a prefix of --s3-list-objects objects, kftpd's memory meanwhile; see BENCHMARKS.md),
# then stops Garage and removes its data.
#
# Usage: scripts/bench-s3.sh [kftp-bench flags...]
#   e.g. scripts/bench-s3.sh --json /tmp/s3.json --s3-concurrency 8
# Environment:
#   GARAGE_BIN         garage 2.x (default: garage on PATH, else ~/.cargo/bin/garage;
#                      scripts/install-garage.sh installs it)
#   BENCH_S3_DIR       Garage's state (default /tmp/bench-garage)
#   BENCH_S3_PORT      first of 3 loopback ports: S3 API, RPC, admin (default 39110)
#   BENCH_S3_KEEP=1    keep BENCH_S3_DIR (and the seeded objects) for the next run,
#                      which then reuses them instead of starting from empty
#   BENCH_S3_TIMEOUT   seconds the bench may run (default 1800)
#   BENCH_S3_GARAGE_CPUS, BENCH_S3_BENCH_CPUS
#                      taskset CPU lists for Garage and for kftp-bench (with its kftpd),
#                      to keep them off each other's cores (default: unpinned)
#   CARGO_TARGET_DIR   where the binaries are built (default target)
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

garage="${GARAGE_BIN:-$(command -v garage 2>/dev/null || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")}"
if [ ! -x "$garage" ]; then
  echo "bench-s3: no garage at $garage (run scripts/install-garage.sh)" >&2
  exit 1
fi
base="${BENCH_S3_DIR:-/tmp/bench-garage}"
port="${BENCH_S3_PORT:-39110}"
s3_port=$port rpc_port=$((port + 1)) admin_port=$((port + 2))
target="${CARGO_TARGET_DIR:-$repo/target}"
conf="$base/garage.toml"

garage_pid=""
cleanup() {
  if [ -n "$garage_pid" ] && kill -0 "$garage_pid" 2>/dev/null; then
    kill "$garage_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$garage_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$garage_pid" 2>/dev/null || true
    wait "$garage_pid" 2>/dev/null || true
  fi
  if [ "${BENCH_S3_KEEP:-0}" != 1 ]; then
    rm -rf "$base"
  fi
}
trap cleanup EXIT INT TERM

echo "bench-s3: building release kftp-bench and kftpd into $target" >&2
CARGO_TARGET_DIR="$target" cargo build --release -q -p kftp-bench -p kftpd

fresh=1
if [ -f "$conf" ] && [ -f "$base/key" ]; then
  fresh=0
else
  rm -rf "$base"
  mkdir -p "$base/meta" "$base/data"
  cat >"$conf" <<EOF
metadata_dir = "$base/meta"
data_dir = "$base/data"
db_engine = "sqlite"
replication_factor = 1
# The bench data is random: compressing it would only burn CPU shared with kftpd.
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
EOF
fi

garage_cmd=("$garage")
[ -z "${BENCH_S3_GARAGE_CPUS:-}" ] || garage_cmd=(taskset -c "$BENCH_S3_GARAGE_CPUS" "$garage")
bench_cmd=()
[ -z "${BENCH_S3_BENCH_CPUS:-}" ] || bench_cmd=(taskset -c "$BENCH_S3_BENCH_CPUS")
"${garage_cmd[@]}" -c "$conf" server >"$base/garage.log" 2>&1 &
garage_pid=$!

# Up when the CLI can reach it over RPC.
node=""
for _ in $(seq 100); do
  if node=$("$garage" -c "$conf" node id -q 2>/dev/null); then break; fi
  kill -0 "$garage_pid" 2>/dev/null || { echo "bench-s3: garage exited:" >&2; tail -5 "$base/garage.log" >&2; exit 1; }
  sleep 0.2
done
[ -n "$node" ] || { echo "bench-s3: garage did not come up" >&2; tail -5 "$base/garage.log" >&2; exit 1; }

if [ "$fresh" = 1 ]; then
  # `node id` can answer before the RPC port listens: retry the first RPC call.
  for i in $(seq 50); do
    "$garage" -c "$conf" layout assign -z dc1 -c 10G "${node%%@*}" >/dev/null 2>&1 && break
    [ "$i" -lt 50 ] || { echo "bench-s3: garage RPC did not answer" >&2; tail -5 "$base/garage.log" >&2; exit 1; }
    sleep 0.2
  done
  "$garage" -c "$conf" layout apply --version 1 >/dev/null
  for _ in $(seq 50); do
    "$garage" -c "$conf" bucket create kftp >/dev/null 2>&1 && break
    sleep 0.2
  done
  out=$("$garage" -c "$conf" key create kftp-bench)
  key_id=$(sed -n 's/^ *Key ID: *//p' <<<"$out" | head -n 1)
  secret=$(sed -n 's/^ *Secret key: *//p' <<<"$out" | head -n 1)
  [ -n "$key_id" ] && [ -n "$secret" ] || { echo "bench-s3: no key in: $out" >&2; exit 1; }
  "$garage" -c "$conf" bucket allow --read --write --owner kftp --key kftp-bench >/dev/null
  printf '%s\n%s\n' "$key_id" "$secret" >"$base/key"
  chmod 600 "$base/key"
fi
key_id=$(sed -n 1p "$base/key")
secret=$(sed -n 2p "$base/key")

echo "bench-s3: garage $("$garage" --version | head -n 1 | cut -d' ' -f2) pid $garage_pid on 127.0.0.1:$s3_port" >&2
AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$secret" \
  timeout "${BENCH_S3_TIMEOUT:-1800}" \
  ${bench_cmd[@]+"${bench_cmd[@]}"} "$target/release/kftp-bench" --only s3 --kftpd "$target/release/kftpd" \
  --s3-endpoint "http://127.0.0.1:$s3_port" --s3-region garage --s3-bucket kftp \
  --s3-store-pid "$garage_pid" "$@"
