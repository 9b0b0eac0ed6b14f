#!/usr/bin/env bash
# MODE E over PROT P with kernel TLS on and off, measured inside the kTLS VM
# (shared/ktls-vm: the stock Debian kernel has CONFIG_TLS, this machine's has not).
#
# Two release kftpd run in the VM on one root: port 2121 as is (kTLS where the kernel
# takes the keys), port 2120 with KFTP_KTLS=off (rustls for every byte). kftp gets and puts
# one file over 4 streams, the variants interleaved per round (get on, get off, put on,
# put off), the client with the same KFTP_KTLS as its server. Per transfer: wall time
# (/proc/uptime), kftpd's CPU (utime+stime of /proc/PID/stat, all threads), kftp's CPU
# (its shell's cutime+cstime after it exited), and `cmp` against the source. Medians per
# variant at the end; BENCHMARKS.md ("MODE E over kernel TLS") has a run.
#
# Usage: scripts/bench-ktls-modee.sh [SIZE_MIB (256)] [ROUNDS (3)]
# Env: CARGO_TARGET_DIR, KTLS_VM_DIR, KTLS_VM_CPUS (2), KTLS_VM_MEM (2048 + 2 x SIZE).
set -euo pipefail

mib=${1:-256}
rounds=${2:-3}
. "$(dirname "${BASH_SOURCE[0]}")/../ci/ktls-vm-lib.sh"
ktls_vm_setup bench-ktls-modee release

cat >"$work/bench.sh" <<GUEST
#!/bin/sh
mkdir -p /tmp/root /tmp/s0 /tmp/s1
head -c $((mib << 20)) /dev/urandom > /tmp/root/src.bin
echo "guest: \$(grep -c ^processor /proc/cpuinfo) CPUs, \$(awk '/MemTotal/{print \$2}' /proc/meminfo) kB"
for v in 0 1; do
  sw=on; [ \$v = 0 ] && sw=off
  env KFTP_KTLS=\$sw KFTPD_LOG=info ./kftpd --listen 127.0.0.1:\$((2120 + v)) --root /tmp/root \
    --users ./users.toml --state-dir /tmp/s\$v --require-tls --tls-sniff-ms 0 --allow-root \
    >/tmp/out\$v 2>/tmp/log\$v &
  echo \$! > /tmp/pid\$v
done
for v in 0 1; do
  i=0; while ! grep -q 'listening on' /tmp/out\$v 2>/dev/null; do
    i=\$((i+1)); [ \$i -gt 100 ] && { echo "kftpd \$v did not start"; cat /tmp/log\$v; exit 1; }; sleep 0.1
  done
done
ticks() { awk '{print \$14 + \$15}' /proc/\$1/stat; }
now() { cut -d' ' -f1 /proc/uptime; }
one() { # direction (get|put), variant (1: kTLS on, 0: off), round
  v=\$2; sw=on; [ \$v = 0 ] && sw=off; pid=\$(cat /tmp/pid\$v)
  url=ftp://alice@127.0.0.1:\$((2120 + v))
  if [ \$1 = get ]; then
    cmd="./kftp --quiet --streams 4 get --tls --insecure \$url/src.bin /tmp/got.bin"; out=/tmp/got.bin
  else
    cmd="./kftp --quiet --streams 4 put --tls --insecure /tmp/root/src.bin \$url/up.bin"; out=/tmp/root/up.bin
  fi
  s0=\$(ticks \$pid); t0=\$(now)
  c=\$(env KFTP_KTLS=\$sw KFTP_PASSWORD=vm-secret sh -c "\$cmd >&2; r=\\\$?; awk '{print \\\$16 + \\\$17}' /proc/\\\$\\\$/stat; exit \\\$r")
  rc=\$?
  t1=\$(now); s1=\$(ticks \$pid)
  same=no; cmp -s \$out /tmp/root/src.bin && same=yes
  rm -f \$out
  echo "RESULT dir=\$1 ktls=\$sw round=\$3 rc=\$rc exact=\$same secs=\$(awk "BEGIN{print \$t1 - \$t0}") server_ticks=\$((s1 - s0)) client_ticks=\$c"
}
for r in \$(seq 1 $rounds); do
  one get 1 \$r; one get 0 \$r; one put 1 \$r; one put 0 \$r
done
kill \$(cat /tmp/pid0) \$(cat /tmp/pid1)
echo "kTLS server, MODE E sends: \$(sed 's/\x1b\[[0-9;]*m//g' /tmp/log1 | grep 'MODE E blocks sent' | grep -o 'ktls_streams=[0-9]*' | sort | uniq -c | tr '\n' ' ')"
echo "off server, MODE E sends: \$(sed 's/\x1b\[[0-9;]*m//g' /tmp/log0 | grep 'MODE E blocks sent' | grep -o 'ktls_streams=[0-9]*' | sort | uniq -c | tr '\n' ' ')"
grep -E 'TlsTxSw|TlsDecryptError' /proc/net/tls_stat
exit 0
GUEST
chmod +x "$work/bench.sh"

cd "$work"
set +e
KTLS_VM_FILES="$work/kftpd $work/kftp $work/users.toml" \
	KTLS_VM_MEM=${KTLS_VM_MEM:-$((2048 + 2 * mib))} KTLS_VM_TIMEOUT=${KTLS_VM_TIMEOUT:-1800} \
	"$vm_dir/run.sh" "$work/bench.sh" >"$work/vm.log" 2>&1
rc=$?
set -e
tr -d '\r' <"$work/vm.log" | grep -E 'guest:|RESULT|kTLS server|off server|Tls|KTLS_VM_EXIT|ktls-vm\]' || tail -40 "$work/vm.log"
# Medians per direction and variant: MB/s, server and client CPU seconds per GiB
# (USER_HZ 100).
tr -d '\r' <"$work/vm.log" | grep RESULT | python3 -c '
import sys, statistics as st
rows = {}
for line in sys.stdin:
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    if f["rc"] != "0" or f["exact"] != "yes":
        print("FAILED:", line.strip()); continue
    rows.setdefault((f["dir"], f["ktls"]), []).append(f)
gib = '"$mib"' / 1024
print("| direction | kTLS | MB/s | server CPU s/GiB | client CPU s/GiB | rounds |")
print("|---|---|---|---|---|---|")
for (d, k), fs in sorted(rows.items(), key=lambda x: (x[0][0], x[0][1] == "off")):
    mbs = st.median(gib * 1073.741824 / float(f["secs"]) for f in fs)
    srv = st.median(int(f["server_ticks"]) / 100 / gib for f in fs)
    cli = st.median(int(f["client_ticks"]) / 100 / gib for f in fs)
    print(f"| {d} | {k} | {mbs:.1f} | {srv:.2f} | {cli:.2f} | {len(fs)} |")
'
exit $rc
