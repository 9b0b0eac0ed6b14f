#!/bin/bash
# What REST in MODE E costs kftpd on the send side: server CPU (utime+stime from
# /proc/PID/stat) of a 512 MiB globus-url-copy -p 4 download to /dev/null from two release
# kftpd, A (before: send_blocks over one range) and B (after: send_ranges), interleaved
# A B, B A, ... and on B a resumed download (-partial-offset: REST 0-N) of the second half.
# Set-up: BENCHMARKS.md, "MODE E restart: what the send path costs (modee-rest)".
# Usage: scripts/modee-rest-bench.sh KFTPD_A KFTPD_B [rounds]
set -u
A=$1; B=$2; ROUNDS=${3:-3}; D=/tmp/mrb
mkdir -p $D/root $D/sA $D/sB; chmod 777 $D/root
[ -f $D/users.toml ] || printf 's3cret-pw\n' | $B user add alice --users $D/users.toml --password-stdin >/dev/null
[ -f $D/root/src.bin ] || head -c 536870912 /dev/urandom > $D/root/src.bin
start() { # name binary port
  $2 --allow-root --no-tls --listen 127.0.0.1:$3 --root $D/root --users $D/users.toml \
    --state-dir $D/s$1 --perf-marker-interval 0 >$D/log$1 2>&1 & echo $! > $D/pid$1
}
start A "$A" 2420; start B "$B" 2421; sleep 1
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
run() { # name port extra-args
  local pid; pid=$(cat $D/pid$1)
  local c0 t0 c1 t1; c0=$(cpu $pid); t0=$(date +%s.%N)
  globus-url-copy -nodcau -p 4 $3 ftp://alice:s3cret-pw@127.0.0.1:$2/src.bin file:///dev/null
  local rc=$?; t1=$(date +%s.%N); c1=$(cpu $pid)
  echo "server=$1 args='$3' rc=$rc secs=$(echo "$t1-$t0"|bc|cut -c1-5) server_cpu_s=$(echo "($c1-$c0)/100"|bc -l|cut -c1-5)"
}
for round in $(seq 1 $ROUNDS); do
  if [ $((round % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for v in $order; do
    if [ $v = A ]; then run A 2420 ""; else run B 2421 ""; fi
  done
  run B 2421 "-off 268435456"
done
kill $(cat $D/pidA) $(cat $D/pidB)
