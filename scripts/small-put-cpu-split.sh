#!/usr/bin/env bash
# Where a small upload's server CPU goes: user space or the kernel (BENCHMARKS.md, session 13).
#
# Starts each server given (NAME=path/to/kftpd, or `pure` for the pure-ftpd that
# scripts/install-peers.sh unpacked) in a cpuacct cgroup of its own, then, ROUNDS times and
# interleaved, uploads N files of 4 KiB into each with `lftp mirror -R` and prints the
# files/s and the cgroup's user and system CPU per file (cpuacct.stat, 10 ms ticks: use
# N >= 1000). Needs root (cgroup v1 cpuacct) and lftp. Work files go to $WORK (default
# /mnt/kftp-scratch/split: scripts/journaled-scratch.sh makes a journaled ext4 there).
#
#   bash scripts/small-put-cpu-split.sh 2000 3 main=target/release/kftpd pure
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,12p' "$0"
  exit 2
fi
n=$1 rounds=$2
shift 2
work=${WORK:-/mnt/kftp-scratch/split}
peers=${KFTP_PEERS_DIR:-$HOME/.cache/kftp-peers}
cgroups=/sys/fs/cgroup/cpuacct
rm -rf "$work"
mkdir -p "$work/src"
for i in $(seq 1 "$n"); do head -c 4096 /dev/urandom >"$work/src/f$i"; done

declare -A port
names=()
cleanup() {
  for name in "${names[@]}"; do
    for p in $(cat "$cgroups/split-$name/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for name in "${names[@]}"; do rmdir "$cgroups/split-$name" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME BIN: the server in cgroup split-NAME, user bench / password pw, root $work/NAME/root.
start() {
  local name=$1 bin=$2 d=$work/$1 p
  p=$((20000 + RANDOM % 20000))
  mkdir -p "$d/root" "$d/state" "$cgroups/split-$name"
  chmod 777 "$d/root" # pure-ftpd's virtual user is nobody
  if [ "$name" = pure ]; then
    local hash
    hash=$(python3 -c 'import crypt; print(crypt.crypt("pw", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)
    echo "bench:$hash:65534:65534::$d/root/./::::::::::::" >"$d/pw.txt"
    "$peers/pure-ftpd/usr/bin/pure-pw" mkdb "$d/pw.pdb" -f "$d/pw.txt"
    (echo $BASHPID >"$cgroups/split-$name/cgroup.procs"
     exec "$peers/pure-ftpd/usr/sbin/pure-ftpd" -S "127.0.0.1,$p" -l "puredb:$d/pw.pdb" \
       -p 20000:60000 -P 127.0.0.1 -E -H -4 -c 4000 -C 4000 >"$d/log" 2>&1) &
  else
    printf 'pw\n' | "$bin" user add bench --users "$d/users.toml" --root "$d/root" --password-stdin >/dev/null 2>&1
    (echo $BASHPID >"$cgroups/split-$name/cgroup.procs"
     exec "$bin" --listen "127.0.0.1:$p" --root "$d/root" --users "$d/users.toml" \
       --state-dir "$d/state" --no-tls-required --allow-root >"$d/log" 2>&1) &
  fi
  port[$name]=$p
  names+=("$name")
  for _ in $(seq 50); do ss -ltn | grep -q ":$p " && return; sleep 0.1; done
  echo "$name did not listen on $p (log: $d/log)" >&2
  exit 1
}
for arg in "$@"; do
  if [ "$arg" = pure ]; then start pure -; else start "${arg%%=*}" "${arg#*=}"; fi
done

ticks() { awk '{printf "%s ", $2} END {print ""}' "$cgroups/split-$1/cpuacct.stat"; }
echo "round server files files/s user_ms/file system_ms/file"
for r in $(seq 1 "$rounds"); do
  for name in "${names[@]}"; do
    rm -rf "$work/$name/root/up"
    sync
    read -r u0 s0 < <(ticks "$name")
    t0=$(date +%s%N)
    lftp -u bench,pw -p "${port[$name]}" \
      -e "set ftp:ssl-allow no; mirror -R $work/src up; quit" 127.0.0.1 >/dev/null
    t1=$(date +%s%N)
    read -r u1 s1 < <(ticks "$name")
    got=$(find "$work/$name/root/up" -type f | wc -l)
    echo "$r $name $got $((n * 1000000000 / (t1 - t0))) $(echo "scale=3; ($u1-$u0)*10/$n" | bc) $(echo "scale=3; ($s1-$s0)*10/$n" | bc)"
  done
done
