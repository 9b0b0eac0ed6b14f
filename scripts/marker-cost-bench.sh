#!/bin/bash
# What MODE E markers cost kftpd: server CPU of a 1 GiB globus-url-copy -p 4 upload to two
# release kftpd (ports 2411: --perf-marker-interval 1, 2410: 0), interleaved, order
# alternating per round. Set-up and servers: BENCHMARKS.md, "MODE E markers: what they cost".
# Upload only; order alternates per round (1 0, 0 1, ...); target removed before each upload.
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for round in 1 2 3 4; do
  if [ $((round % 2)) = 1 ]; then order="1 0"; else order="0 1"; fi
  for v in $order; do
    P=$((2410+v)); pid=$(cat /tmp/mm/pid$v); U="ftp://alice:s3cret-pw@127.0.0.1:$P"
    rm -f /tmp/mm/root/up$v.bin; sync
    c0=$(cpu $pid); t0=$(date +%s.%N)
    globus-url-copy -nodcau -p 4 -dbg file:///tmp/mm/src.bin $U/up$v.bin 2>/tmp/mm/dbg 1>/dev/null
    rc=$?; t1=$(date +%s.%N); c1=$(cpu $pid)
    echo "round=$round interval=$v rc=$rc secs=$(echo "$t1-$t0"|bc|cut -c1-5) server_cpu_s=$(echo "($c1-$c0)/100"|bc -l|cut -c1-5) m112=$(grep -c '112-Perf Marker' /tmp/mm/dbg) m111=$(grep -c '111 Range Marker' /tmp/mm/dbg)"
  done
done
