#!/usr/bin/env bash
# Third-party copy across the emulated WAN (BENCHMARKS.md, "Third-party copy"): kftp copy
# kftpd -> kftpd against globus-url-copy GridFTP -> GridFTP, 1, 4 and 8 streams, REPS rounds
# (default 3) of SIZE (default 128M), interleaved. The delay line is kftp-bench's
# (cargo build --release -p kftp-bench --examples: wan_hold): 25 ms each way, 0.01 % loss,
# 300 Mbit/s, 256 KiB TCP buffers; sources in namespace A, destinations in B, the client in
# A. As root; needs globus-gridftp-server, globus-url-copy and bc.
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
W=/dev/shm/tpw; rm -rf $W; mkdir -p $W/a $W/b $W/ga $W/gb $W/st1 $W/st2; chmod 777 $W/ga $W/gb
head -c ${SIZE:-128M} /dev/urandom > $W/a/big; cp $W/a/big $W/ga/big; chmod 644 $W/ga/big
echo pw | $B/kftpd user add u --users $W/users.toml --root $W/a --password-stdin >/dev/null
echo pw | $B/kftpd user add v --users $W/users.toml --root $W/b --password-stdin >/dev/null
. "$(dirname "$0")/wan-delay-line.sh"
wan_start $W 25 0.01 300 262144
K="--no-tls-required --tls-sniff-ms 0 --allow-root --allow-foreign-data-peer --users $W/users.toml"
PIDS=""
ip netns exec $NA $B/kftpd --listen 10.77.0.1:48101 --state-dir $W/st1 $K > $W/k1.log 2>&1 & PIDS="$PIDS $!"
ip netns exec $NB $B/kftpd --listen 10.77.0.2:48102 --state-dir $W/st2 $K > $W/k2.log 2>&1 & PIDS="$PIDS $!"
ip netns exec $NA globus-gridftp-server -aa -anonymous-user nobody -d error -control-interface 10.77.0.1 -data-interface 10.77.0.1 -p 48111 > $W/g1.log 2>&1 & PIDS="$PIDS $!"
ip netns exec $NB globus-gridftp-server -aa -anonymous-user nobody -d error -control-interface 10.77.0.2 -data-interface 10.77.0.2 -p 48112 > $W/g2.log 2>&1 & PIDS="$PIDS $!"
sleep 2
export KFTP_PASSWORD=pw
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>$W/err || { echo "FAIL: $*"; cat $W/err; }; echo "$(date +%s.%N) - $s" | bc; }
for r in $(seq 1 ${REPS:-3}); do
  for n in 1 4 8; do
    rm -f $W/b/* $W/gb/*
    a=$(t ip netns exec $NA $B/kftp -q --streams $n copy ftp://u@10.77.0.1:48101/big ftp://v@10.77.0.2:48102/big)
    cmp -s $W/a/big $W/b/big || echo "MISMATCH kftp $n"
    if [ $n = 1 ]; then P=""; else P="-p $n"; fi
    g=$(t ip netns exec $NA globus-url-copy -nodcau $P ftp://10.77.0.1:48111$W/ga/big ftp://10.77.0.2:48112$W/gb/big)
    cmp -s $W/a/big $W/gb/big || echo "MISMATCH guc $n"
    echo "round $r streams $n: kftp-copy(kftpd->kftpd) $a s; guc(gridftp->gridftp) $g s; load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
kill $PIDS 2>/dev/null; wan_stop $W
