#!/bin/bash
# One interleaved run: REPS reps; per rep every server (order rotated) does RETR then STOR
# of 1 GiB with curl; prints name dir MiB/s cpu_s_per_GiB. Then N16 (16 x RETR) per server.
B=/work/pp-bench; REPS=${REPS:-3}; ONLY=${ONLY:-"kbefore kafter vsftpd proftpd pure"}
url() { case $1 in kbk) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22321";; kak) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22323";; kbefore) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22301";; kafter) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22302";;
  vsftpd) echo "ftp://127.0.0.1:22303";; proftpd) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22304";; pure) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22305";; esac; }
cpu() { cat /sys/fs/cgroup/cpuacct/pp-$1/cpuacct.usage; }
one() { # name dir
  local s=$1 d=$2 u; u=$(url $s); local c0; c0=$(cpu $s)
  if [ $d = RETR ]; then sp=$(curl -sS $u/src.bin -o /dev/null -w '%{speed_download}')
  else sp=$(curl -sS -T /dev/shm/pp-1g.bin $u/up-$s.bin -w '%{speed_upload}'); fi
  local c1; c1=$(cpu $s)
  [ $d = STOR ] && rm -f $B/root/up-$s.bin
  awk -v n=$s -v d=$d -v sp=$sp -v c=$((c1-c0)) 'BEGIN{printf "%s %s %.0f %.3f\n", n, d, sp/1048576, c/1e9}'
}
set -- $ONLY; arr=($ONLY); n=${#arr[@]}
for r in $(seq 1 $REPS); do
  echo "# rep $r $(uptime)"
  for i in $(seq 0 $((n-1))); do s=${arr[$(((i+r)%n))]}; one $s RETR; one $s STOR; done
done
if [ -n "$N16" ]; then for r in $(seq 1 ${N16}); do for i in $(seq 0 $((n-1))); do s=${arr[$(((i+r)%n))]}; u=$(url $s)
  c0=$(cpu $s); t0=$(date +%s.%N)
  for k in $(seq 1 16); do curl -sS $u/src.bin -o /dev/null & done; wait
  t1=$(date +%s.%N); c1=$(cpu $s)
  awk -v n=$s -v t=$(echo "$t1 - $t0" | bc) -v c=$((c1-c0)) 'BEGIN{printf "%s 16xRETR %.0f %.3f\n", n, 16*1024/t, c/1e9/16}'
done; done; fi
