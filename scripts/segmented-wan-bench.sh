#!/usr/bin/env bash
# kftp get --segments across the emulated WAN (BENCHMARKS.md, session 12): kftpd in one
# network namespace, the client in the other, kftp-bench's delay line between them (25 ms
# each way, no loss, 300 Mbit/s htb, 256 KiB TCP buffers). Each round runs every kftp build
# given (default: this tree's release build) on a file of SIZE (default 4M), with GETARGS
# (default --segments 4), and checks the copy with cmp. As root; needs
# `cargo build --release -p kftp -p kftpd && cargo build --release -p kftp-bench --examples`.
#   SIZE=32M REPS=3 scripts/segmented-wan-bench.sh /tmp/kftp-old target/release/kftp
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
[ $# -gt 0 ] || set -- "$B/kftp"
W=/dev/shm/segw; rm -rf $W; mkdir -p $W/a $W/st $W/out
head -c ${SIZE:-4M} /dev/urandom > $W/a/f
echo pw | $B/kftpd user add u --users $W/users.toml --root $W/a --password-stdin >/dev/null
. "$(dirname "$0")/wan-delay-line.sh"
wan_start $W 25 0 300 262144
ip netns exec $NB $B/kftpd --listen 10.77.0.2:48102 --state-dir $W/st --no-tls-required \
  --allow-root --users $W/users.toml > $W/k.log 2>&1 & P=$!
sleep 1.5
export KFTP_PASSWORD=pw
for r in $(seq 1 ${REPS:-3}); do
  for k in "$@"; do
    rm -f $W/out/f
    s=$(date +%s%N)
    ip netns exec $NA $k -q get ${GETARGS:---segments 4} ftp://u@10.77.0.2:48102/f $W/out/f || echo "FAIL: $k"
    e=$(date +%s%N)
    cmp -s $W/a/f $W/out/f || echo "DIFFERENT: $k"
    echo "round $r: $k ${GETARGS:---segments 4} ${SIZE:-4M}: $(( (e-s)/1000000 )) ms"
  done
done
kill $P; wan_stop $W >/dev/null; rm -rf $W
