#!/usr/bin/env bash
# Small files server to server on loopback (BENCHMARKS.md, "Third-party copy"): kftp mirror
# kftpd -> kftpd against globus-url-copy -r -cd -pp -cc 4 GridFTP -> GridFTP, N files
# (default 1000) of 4 KiB, REPS rounds (default 3). KFTPS="/old/kftp /new/kftp" runs each
# of those clients in every round (default: this tree's release build), so builds compare
# in one run. Needs globus-gridftp-server, globus-url-copy and bc.
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
N=${N:-1000}
KFTPS=${KFTPS:-$B/kftp}
W=/dev/shm/tps; rm -rf $W; mkdir -p $W/a/small $W/b $W/ga/small $W/gb $W/st1 $W/st2; chmod -R 777 $W/ga $W/gb
for i in $(seq 1 $N); do head -c 4096 /dev/urandom > $W/a/small/f$i; done; cp $W/a/small/* $W/ga/small/; chmod 644 $W/ga/small/*
echo pw | $B/kftpd user add u --users $W/users.toml --root $W/a --password-stdin >/dev/null
echo pw | $B/kftpd user add v --users $W/users.toml --root $W/b --password-stdin >/dev/null
PIDS=""
$B/kftpd --listen 127.0.0.1:48201 --users $W/users.toml --state-dir $W/st1 --allow-root > $W/k1.log 2>&1 & PIDS="$PIDS $!"
$B/kftpd --listen 127.0.0.1:48202 --users $W/users.toml --state-dir $W/st2 --allow-root > $W/k2.log 2>&1 & PIDS="$PIDS $!"
globus-gridftp-server -aa -anonymous-user nobody -d error -control-interface 127.0.0.1 -p 48211 > $W/g1.log 2>&1 & PIDS="$PIDS $!"
globus-gridftp-server -aa -anonymous-user nobody -d error -control-interface 127.0.0.1 -p 48212 > $W/g2.log 2>&1 & PIDS="$PIDS $!"
sleep 2
export KFTP_PASSWORD=pw
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>$W/err || { echo "FAIL: $*"; tail -3 $W/err; }; echo "$(date +%s.%N) - $s" | bc; }
for r in $(seq 1 ${REPS:-3}); do
  line="round $r:"
  for k in $KFTPS; do
    rm -rf $W/b/*
    a=$(t $k -q mirror ftp://u@127.0.0.1:48201/small/ ftp://v@127.0.0.1:48202/small/)
    [ "$(ls $W/b/small | wc -l)" = $N ] || echo "MISSING kftp"
    diff -r $W/a/small $W/b/small >/dev/null || echo "DIFFERENT: $k"
    line="$line kftp mirror (kftpd->kftpd, $k) $a s = $(echo "$N / $a" | bc) files/s;"
  done
  rm -rf $W/gb/*
  g=$(t globus-url-copy -nodcau -r -cd -pp -cc 4 ftp://127.0.0.1:48211$W/ga/small/ ftp://127.0.0.1:48212$W/gb/small/)
  [ "$(ls $W/gb/small | wc -l)" = $N ] || echo "MISSING guc"
  echo "$line guc -r -pp -cc 4 (gridftp->gridftp) $g s = $(echo "$N / $g" | bc) files/s; load $(cut -d' ' -f1 /proc/loadavg)"
done
echo "every kftp copy checked with diff -r"
kill $PIDS 2>/dev/null; wait 2>/dev/null
