#!/usr/bin/env bash
# End to end kernel TLS: the real kftpd serves a PROT P download to the real kftp client
# inside the kTLS VM (shared/ktls-vm), whose stock kernel has CONFIG_TLS. Passes only if
# the bytes match both ways (kftp's upload also goes out through kTLS), kftpd logged the
# download as `ktls-sendfile`, and /proc/net/tls_stat shows two kernel TLS transmitters
# (TlsTxSw >= 2) with no decrypt errors.
#
# Uses the debug binaries `cargo test` already built (target/debug/kftpd, kftp); builds
# them if missing. Env: CARGO_TARGET_DIR, KTLS_VM_DIR, KTLS_E2E_SIZE (bytes, default 4 MiB).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vm_dir=${KTLS_VM_DIR:-$(cd "$repo/.." && pwd)/shared/ktls-vm}
target=${CARGO_TARGET_DIR:-$repo/target}
size=${KTLS_E2E_SIZE:-4194304}

if [ ! -x "$vm_dir/run.sh" ]; then
	echo "ktls-vm-kftpd: $vm_dir/run.sh not found (set KTLS_VM_DIR)" >&2
	exit 2
fi
if [ ! -x "$target/debug/kftpd" ] || [ ! -x "$target/debug/kftp" ]; then
	(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet -p kftpd -p kftp)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$target/debug/kftpd" "$target/debug/kftp" "$work/"
printf 'vm-secret\n' | "$work/kftpd" user add alice --users "$work/users.toml" --password-stdin >/dev/null

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
kill \$pid
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
exit 0
GUEST
chmod +x "$work/ktls-kftpd.sh"

start=$(date +%s)
cd "$work"
set +e
KTLS_VM_FILES="$work/kftpd $work/kftp $work/users.toml" KTLS_VM_MEM=${KTLS_VM_MEM:-1024} \
	"$vm_dir/run.sh" "$work/ktls-kftpd.sh" >"$work/vm.log" 2>&1
rc=$?
set -e
grep -E 'transfer|Tls|KTLS_E2E|FAIL|KTLS_VM_EXIT' "$work/vm.log" || tail -40 "$work/vm.log"
echo "ktls-vm-kftpd: VM run took $(( $(date +%s) - start )) s"
if [ $rc -eq 0 ] && grep -q KTLS_E2E_OK "$work/vm.log"; then
	echo "1 passed, 0 failed"
	exit 0
fi
echo "0 passed, 1 failed"
exit 1
