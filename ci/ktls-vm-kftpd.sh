#!/usr/bin/env bash
# End to end kernel TLS: the real kftpd serves a PROT P download to the real kftp client
# inside the kTLS VM (shared/ktls-vm), whose stock kernel has CONFIG_TLS. Passes only if
# the bytes match both ways (kftp's upload also goes out through kTLS), kftpd logged the
# download as `ktls-sendfile`, and /proc/net/tls_stat shows two kernel TLS transmitters
# (TlsTxSw >= 2) with no decrypt errors.
#
# Then MODE E under PROT P: `kftp get --streams 4` and `kftp put --streams 4`, byte-exact,
# with every stream's transmit keys in the kernel: kftpd logs the RETR as `ktls-sendfile`
# over `ktls_streams=4`, and TlsTxSw grows by 8 (kftpd's four download streams, kftp's four
# upload streams); a third put with KFTP_KTLS=off arrives byte-exact through rustls and
# adds no kernel transmitter.
#
# Uses the debug binaries `cargo test` already built (target/debug/kftpd, kftp); builds
# them if missing, and copies them into the VM without their debug info (a smaller
# initramfs boots faster). Env: CARGO_TARGET_DIR, KTLS_VM_DIR, KTLS_E2E_SIZE (bytes,
# default 4 MiB; the MODE E file is this plus 12345 bytes, five blocks over four streams).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/ktls-vm-lib.sh"
ktls_vm_setup ktls-vm-kftpd debug
size=${KTLS_E2E_SIZE:-4194304}

cat >"$work/ktls-kftpd.sh" <<GUEST
#!/bin/sh
mkdir -p /tmp/root /tmp/state
head -c $size /dev/urandom > /tmp/root/big.bin
KFTPD_LOG=info ./kftpd --listen 127.0.0.1:2121 --root /tmp/root --users ./users.toml \
  --state-dir /tmp/state --require-tls --data-path kernel --tls-sniff-ms 0 \
  --allow-root \
  >/tmp/kftpd.out 2>/tmp/kftpd.log &
pid=\$!
i=0
while ! grep -q 'listening on' /tmp/kftpd.out 2>/dev/null; do
  i=\$((i+1)); [ \$i -gt 100 ] && { echo "kftpd did not start"; cat /tmp/kftpd.log; exit 1; }
  sleep 0.1
done
KFTP_PASSWORD=vm-secret ./kftp --quiet --streams 1 get --tls --insecure ftp://alice@127.0.0.1:2121/big.bin /tmp/got.bin
rc=\$?
# The client hands its keys to the kernel too: the upload is a kTLS sendfile from kftp,
# decrypted by kftpd's rustls.
KFTP_PASSWORD=vm-secret ./kftp --quiet --streams 1 put --tls --insecure /tmp/got.bin ftp://alice@127.0.0.1:2121/up.bin
rc2=\$?
a=\$(sha256sum /tmp/root/big.bin | cut -d' ' -f1)
b=\$(sha256sum /tmp/got.bin 2>/dev/null | cut -d' ' -f1)
c=\$(sha256sum /tmp/root/up.bin 2>/dev/null | cut -d' ' -f1)
echo "--- kftpd transfer log"
grep 'transfer' /tmp/kftpd.log | sed 's/\x1b\[[0-9;]*m//g'
echo "--- /proc/net/tls_stat"
cat /proc/net/tls_stat
tx=\$(awk '\$1=="TlsTxSw"{print \$2}' /proc/net/tls_stat)
bad=\$(awk '\$1=="TlsDecryptError"{print \$2}' /proc/net/tls_stat)
[ \$rc -eq 0 ] || { echo "FAIL: kftp exited \$rc"; exit 1; }
[ "\$a" = "\$b" ] || { echo "FAIL: downloaded bytes differ"; exit 1; }
[ \$rc2 -eq 0 ] || { echo "FAIL: kftp put exited \$rc2"; exit 1; }
[ "\$a" = "\$c" ] || { echo "FAIL: uploaded bytes differ"; exit 1; }
grep -q 'ktls-sendfile' /tmp/kftpd.log || { echo "FAIL: transfer did not use ktls-sendfile"; exit 1; }
# Two kTLS transmitters: kftpd's download and kftp's upload.
[ "\${tx:-0}" -ge 2 ] && [ "\${bad:-0}" -eq 0 ] || { echo "FAIL: tls_stat TlsTxSw=\$tx TlsDecryptError=\$bad"; exit 1; }
echo "KTLS_E2E_OK sha256=\$a TlsTxSw=\$tx"

# MODE E: four streams each way under PROT P, each handing its TX keys to the kernel.
head -c $((size + 12345)) /dev/urandom > /tmp/root/e.bin
KFTP_PASSWORD=vm-secret ./kftp --quiet --streams 4 get --tls --insecure ftp://alice@127.0.0.1:2121/e.bin /tmp/e-got.bin
rc=\$?
KFTP_PASSWORD=vm-secret ./kftp --quiet --streams 4 put --tls --insecure /tmp/e-got.bin ftp://alice@127.0.0.1:2121/e-up.bin
rc2=\$?
# KFTP_KTLS=off: the same put through rustls, no new kernel transmitter.
tx2=\$(awk '\$1=="TlsTxSw"{print \$2}' /proc/net/tls_stat)
KFTP_KTLS=off KFTP_PASSWORD=vm-secret ./kftp --quiet --streams 4 put --tls --insecure /tmp/e-got.bin ftp://alice@127.0.0.1:2121/e-off.bin
rc3=\$?
kill \$pid
a=\$(sha256sum /tmp/root/e.bin | cut -d' ' -f1)
b=\$(sha256sum /tmp/e-got.bin 2>/dev/null | cut -d' ' -f1)
c=\$(sha256sum /tmp/root/e-up.bin 2>/dev/null | cut -d' ' -f1)
d=\$(sha256sum /tmp/root/e-off.bin 2>/dev/null | cut -d' ' -f1)
echo "--- kftpd MODE E log"
grep -E 'MODE E blocks|e.bin|e-up.bin|e-off.bin' /tmp/kftpd.log | sed 's/\x1b\[[0-9;]*m//g'
tx3=\$(awk '\$1=="TlsTxSw"{print \$2}' /proc/net/tls_stat)
bad=\$(awk '\$1=="TlsDecryptError"{print \$2}' /proc/net/tls_stat)
[ \$rc -eq 0 ] || { echo "FAIL: kftp get --streams 4 exited \$rc"; exit 1; }
[ "\$a" = "\$b" ] || { echo "FAIL: MODE E downloaded bytes differ"; exit 1; }
[ \$rc2 -eq 0 ] || { echo "FAIL: kftp put --streams 4 exited \$rc2"; exit 1; }
[ "\$a" = "\$c" ] || { echo "FAIL: MODE E uploaded bytes differ"; exit 1; }
[ \$rc3 -eq 0 ] && [ "\$a" = "\$d" ] || { echo "FAIL: KFTP_KTLS=off put: rc \$rc3, bytes differ or missing"; exit 1; }
[ "\$tx3" = "\$tx2" ] || { echo "FAIL: KFTP_KTLS=off put still used kTLS (TlsTxSw \$tx2 -> \$tx3)"; exit 1; }
sed 's/\x1b\[[0-9;]*m//g' /tmp/kftpd.log | grep 'MODE E blocks sent' | grep -q 'ktls_streams=4' ||
  { echo "FAIL: kftpd's MODE E streams did not all use kTLS"; exit 1; }
sed 's/\x1b\[[0-9;]*m//g' /tmp/kftpd.log | grep 'path=/e.bin' | grep -q 'ktls-sendfile' ||
  { echo "FAIL: the MODE E RETR did not use ktls-sendfile"; exit 1; }
# Eight more kTLS transmitters: kftpd's four download streams, kftp's four upload streams.
[ \$((tx2 - tx)) -ge 8 ] && [ "\${bad:-0}" -eq 0 ] ||
  { echo "FAIL: MODE E tls_stat TlsTxSw \$tx -> \$tx2, TlsDecryptError=\$bad"; exit 1; }
echo "KTLS_MODE_E_OK sha256=\$a TlsTxSw \$tx -> \$tx2 (KFTP_KTLS=off put: \$tx3)"
exit 0
GUEST
ktls_vm_check ktls-vm-kftpd ktls-kftpd.sh \
	'transfer|MODE E|Tls|KTLS_E2E|KTLS_MODE_E|FAIL|KTLS_VM_EXIT|ktls-vm\]' 'KTLS_(E2E|MODE_E)_OK' 2
