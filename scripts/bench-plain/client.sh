#!/bin/bash
# Client comparison, interleaved: per rep and server (vsftpd, kftpd-after), curl get, kftp-before get,
# kftp-after get (into /dev/shm), then the same for put; wall seconds and client CPU seconds.
B=/work/pp-bench; REPS=${REPS:-3}; KA=${KA:-$B/bin/kftp-after}; KB=$B/bin/kftp-before
SERVERS=${SERVERS:-"vsftpd kafter"}
url() { case $1 in kafter) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22302";; kak) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22323";; vsftpd) echo "ftp://anonymous:x@127.0.0.1:22303";; kbefore) echo "ftp://bench:kftp-bench-pw@127.0.0.1:22301";; esac; }
t() { # label cmd...
  local l=$1; shift; /usr/bin/time -f "%e %U %S" -o /tmp/pp-time "$@" >/dev/null 2>/tmp/pp-cerr || { echo "$l FAILED $(tail -2 /tmp/pp-cerr)"; return; }
  awk -v l="$l" '{printf "%s wall %.2f s cpu %.2f s\n", l, $1, $2+$3}' /tmp/pp-time; }
for r in $(seq 1 $REPS); do echo "# rep $r $(uptime)"; for s in $SERVERS; do u=$(url $s)
  t "$s get curl" curl -sS $u/src.bin -o /dev/shm/pp-dl.bin; rm -f /dev/shm/pp-dl.bin
  t "$s get kftp-before" $KB -q get $u/src.bin /dev/shm/pp-dl.bin; rm -f /dev/shm/pp-dl.bin
  t "$s get kftp-after" $KA -q get $u/src.bin /dev/shm/pp-dl.bin; rm -f /dev/shm/pp-dl.bin
  t "$s put curl" curl -sS -T /dev/shm/pp-1g.bin $u/up-c.bin; rm -f $B/root/up-c.bin
  t "$s put kftp-before" $KB -q put /dev/shm/pp-1g.bin $u/up-c.bin; rm -f $B/root/up-c.bin
  t "$s put kftp-after" $KA -q put /dev/shm/pp-1g.bin $u/up-c.bin; rm -f $B/root/up-c.bin
  if [ -n "$SEG" ]; then
    t "$s get4 kftp-after" $KA -q get --segments 4 $u/src.bin /dev/shm/pp-dl.bin; rm -f /dev/shm/pp-dl.bin
    (cd /dev/shm && t "$s pget4 lftp" lftp -c "pget -n 4 $u/src.bin -o /dev/shm/pp-dl.bin"); rm -f /dev/shm/pp-dl.bin
  fi
done; done
