#!/usr/bin/env bash
# MODE E streams under PROT P kept between files, with kernel TLS (issue #17 item 3), in
# the kTLS VM (/work/shared/ktls-vm: the dev kernel has no CONFIG_TLS). `kftp mirror --tls
# --streams 2 --parallel 1` of 12 files down, then the same tree up: byte-exact both ways,
# every RETR sent over kTLS streams (`ktls_streams=2`), 11 of 12 on kept ones
# (`mode_e_reused=2`), and TlsTxSw grows by 2-3 per direction (the two kept streams, and
# perhaps a listing's data connection), not 2 per file.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/ktls-vm-lib.sh"
ktls_vm_setup ktls-vm-kept debug

cat >"$work/ktls-kept.sh" <<GUEST
#!/bin/sh
mkdir -p /tmp/root/site /tmp/state
i=0
while [ \$i -lt 12 ]; do head -c \$((300000 + i)) /dev/urandom > /tmp/root/site/f\$i.bin; i=\$((i+1)); done
KFTPD_LOG=info ./kftpd --listen 127.0.0.1:2121 --root /tmp/root --users ./users.toml \
  --state-dir /tmp/state --require-tls --data-path kernel --tls-sniff-ms 0 --allow-root \
  >/tmp/kftpd.out 2>/tmp/kftpd.log &
pid=\$!
i=0
while ! grep -q 'listening on' /tmp/kftpd.out 2>/dev/null; do
  i=\$((i+1)); [ \$i -gt 300 ] && { echo "FAIL: kftpd did not start"; cat /tmp/kftpd.log; exit 1; }
  sleep 0.1
done
tx() { awk '\$1=="TlsTxSw"{print \$2}' /proc/net/tls_stat; }
m() { KFTP_PASSWORD=vm-secret ./kftp --quiet mirror --tls --insecure --streams 2 --parallel 1 "\$@"; }
t0=\$(tx)
m ftp://alice@127.0.0.1:2121/site/ /tmp/down; rc=\$?
t1=\$(tx)
m /tmp/down ftp://alice@127.0.0.1:2121/up/; rc2=\$?
t2=\$(tx)
kill \$pid
log=\$(sed 's/\x1b\[[0-9;]*m//g' /tmp/kftpd.log)
echo "\$log" | grep 'MODE E blocks' | head -4
sent=\$(echo "\$log" | grep 'MODE E blocks sent' | grep -c 'ktls_streams=2')
kept=\$(echo "\$log" | grep 'MODE E blocks sent' | grep -c 'mode_e_reused=2')
got=\$(echo "\$log" | grep 'MODE E blocks received' | grep -c 'mode_e_reused=2')
bad=\$(awk '\$1=="TlsDecryptError"{print \$2}' /proc/net/tls_stat)
echo "TlsTxSw \$t0 -> \$t1 -> \$t2; kTLS RETRs \$sent, on kept streams \$kept; STORs on kept streams \$got"
[ \$rc -eq 0 ] && diff -r /tmp/root/site /tmp/down || { echo "FAIL: mirror down (rc \$rc)"; exit 1; }
[ \$rc2 -eq 0 ] && diff -r /tmp/down /tmp/root/up || { echo "FAIL: mirror up (rc \$rc2)"; exit 1; }
[ "\$sent" -eq 12 ] && [ "\$kept" -eq 11 ] && [ "\$got" -eq 11 ] || { echo "FAIL: kept kTLS streams"; exit 1; }
d1=\$((t1 - t0)); d2=\$((t2 - t1))
[ \$d1 -ge 2 ] && [ \$d1 -le 3 ] && [ \$d2 -ge 2 ] && [ \$d2 -le 3 ] && [ "\${bad:-0}" -eq 0 ] ||
  { echo "FAIL: TlsTxSw grew \$d1 down, \$d2 up (want 2-3 each), TlsDecryptError=\$bad"; exit 1; }
echo "KTLS_KEPT_OK"
exit 0
GUEST
ktls_vm_check ktls-vm-kept ktls-kept.sh \
	'MODE E|TlsTxSw|KTLS_KEPT_OK|FAIL|KTLS_VM_EXIT|ktls-vm\]' KTLS_KEPT_OK 1
