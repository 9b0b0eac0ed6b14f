#!/bin/sh
# Per-file syscalls of kftpd under kftp mirror --tls (BENCHMARKS.md, "TLS streams kept between files").
# usage: tls-cache-strace.sh NAME BIN_DIR [N]
# syscalls of kftpd per file: kftp mirror --tls --parallel 1 of N x 4 KiB down and up, under strace -c -f
set -e
V=$1; B=$2; N=${3:-500}; W=${WORK:-/tmp/tls-cache-strace}/$V
rm -rf $W; mkdir -p $W/root/site $W/src; chmod 777 $W/root
i=0; while [ $i -lt $N ]; do head -c 4096 /dev/urandom > $W/src/f$i.bin; i=$((i+1)); done
cp $W/src/* $W/root/site/
printf 's3cret-pw\n' | $B/kftpd user add alice --users $W/users.toml --password-stdin >/dev/null
$B/kftpd --allow-root --no-sandbox --listen 127.0.0.1:2540 --root $W/root --users $W/users.toml --state-dir $W/state > $W/kftpd.log 2>&1 &
P=$!; sleep 1
PIN=$(grep -o '[0-9A-F][0-9A-F]\(:[0-9A-F][0-9A-F]\)\{31\}' $W/kftpd.log | head -1)
for dir in down up; do
  strace -c -f -p $P -o $W/strace-$dir.txt & S=$!; sleep 1
  if [ $dir = down ]; then
    KFTP_PASSWORD=s3cret-pw $B/kftp --netrc /nonexistent mirror --tls --pin-sha256 $PIN --parallel 1 ftp://alice@127.0.0.1:2540/site/ $W/down
  else
    KFTP_PASSWORD=s3cret-pw $B/kftp --netrc /nonexistent mirror --tls --pin-sha256 $PIN --parallel 1 $W/src ftp://alice@127.0.0.1:2540/up/
  fi
  kill -INT $S; wait $S || true
  tail -1 $W/strace-$dir.txt
done
diff -r $W/src $W/down && diff -r $W/src $W/root/up && echo byte-exact
kill $P; wait $P || true
