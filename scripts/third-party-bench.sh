#!/usr/bin/env bash
# Third-party copy on loopback (BENCHMARKS.md, "Third-party copy on loopback"): kftp copy
# between two kftpd, globus-url-copy between two globus-gridftp-server, then
# globus-url-copy between the two kftpd; 1 GiB on tmpfs, interleaved per stream level,
# REPS rounds (default 3), every copy compared. Release binaries (B= to point elsewhere);
# needs globus-gridftp-server and globus-url-copy (scripts/install-test-deps.sh) and bc.
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
W=/dev/shm/tp; rm -rf $W; mkdir -p $W/a $W/b $W/ga $W/gb $W/st1 $W/st2; chmod 777 $W/ga $W/gb
head -c 1G /dev/urandom > $W/a/big; cp $W/a/big $W/ga/big; chmod 644 $W/ga/big
echo pw | $B/kftpd user add u --users $W/users.toml --root $W/a --password-stdin >/dev/null
echo pw | $B/kftpd user add v --users $W/users.toml --root $W/b --password-stdin >/dev/null
PIDS=""
$B/kftpd --listen 127.0.0.1:48001 --users $W/users.toml --state-dir $W/st1 --allow-root > $W/k1.log 2>&1 & PIDS="$PIDS $!"
$B/kftpd --listen 127.0.0.1:48002 --users $W/users.toml --state-dir $W/st2 --allow-root > $W/k2.log 2>&1 & PIDS="$PIDS $!"
globus-gridftp-server -aa -anonymous-user nobody -d error -control-interface 127.0.0.1 -p 48011 > $W/g1.log 2>&1 & PIDS="$PIDS $!"
globus-gridftp-server -aa -anonymous-user nobody -d error -control-interface 127.0.0.1 -p 48012 > $W/g2.log 2>&1 & PIDS="$PIDS $!"
sleep 2
export KFTP_PASSWORD=pw
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>$W/err || { echo "FAIL: $*"; cat $W/err; }; echo "$(date +%s.%N) - $s" | bc; }
for r in $(seq 1 ${REPS:-3}); do
  for n in 1 4 8; do
    rm -f $W/b/* $W/gb/*
    a=$(t $B/kftp -q --streams $n copy ftp://u@127.0.0.1:48001/big ftp://v@127.0.0.1:48002/big)
    cmp -s $W/a/big $W/b/big || echo "MISMATCH kftp $n"
    if [ $n = 1 ]; then P=""; else P="-p $n"; fi
    g=$(t globus-url-copy -nodcau $P ftp://127.0.0.1:48011$W/ga/big ftp://127.0.0.1:48012$W/gb/big)
    cmp -s $W/a/big $W/gb/big || echo "MISMATCH guc $n"
    rm -f $W/b/*
    x=$(t globus-url-copy -nodcau $P ftp://u:pw@127.0.0.1:48001/big ftp://v:pw@127.0.0.1:48002/big)
    cmp -s $W/a/big $W/b/big || echo "MISMATCH guc-kftpd $n"
    echo "round $r streams $n: kftp-copy(kftpd->kftpd) $a s; guc(gridftp->gridftp) $g s; guc(kftpd->kftpd) $x s; load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
kill $PIDS 2>/dev/null; wait 2>/dev/null
