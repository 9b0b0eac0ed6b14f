#!/usr/bin/env bash
# Proves FTPS kernel-TLS offload for real: builds crates/kftp-tls/examples/ktls_selftest.rs
# (rustls handshake with data-channel session reuse, kTLS TX hand-off, sendfile, rustls
# decrypts on the other side, both directions, TLS 1.2 and 1.3, AES-128/256-GCM and
# ChaCha20-Poly1305) and runs it inside the kTLS VM (shared/ktls-vm/run.sh), because the
# development kernel has no CONFIG_TLS. Fails unless every case went through the kernel,
# every byte matched and /proc/net/tls_stat shows TlsTxSw > 0 and TlsDecryptError 0.
#
# Env: CARGO_TARGET_DIR (default: <repo>/target), KTLS_VM_DIR (default:
# <repo>/../shared/ktls-vm), KTLS_SELFTEST_SIZE (bytes per transfer, default 4 MiB + 12345),
# plus run.sh's own knobs (KTLS_VM_TIMEOUT, KTLS_VM_ACCEL, ...).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vm_dir=${KTLS_VM_DIR:-$(cd "$repo/.." && pwd)/shared/ktls-vm}
target=${CARGO_TARGET_DIR:-$repo/target}
size=${KTLS_SELFTEST_SIZE:-4206649}

if [ ! -x "$vm_dir/run.sh" ]; then
	echo "ktls-vm-test: $vm_dir/run.sh not found (set KTLS_VM_DIR)" >&2
	exit 2
fi

start=$(date +%s)
echo "ktls-vm-test: building ktls_selftest (release)"
(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet --release -p kftp-tls --example ktls_selftest)
bin="$target/release/examples/ktls_selftest"
built=$(date +%s)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/ktls-guest.sh" <<GUEST
#!/bin/sh
./ktls_selftest --require-ktls --size $size
rc=\$?
echo "--- /proc/net/tls_stat"
cat /proc/net/tls_stat
tx=\$(awk '\$1=="TlsTxSw"{print \$2}' /proc/net/tls_stat)
bad=\$(awk '\$1=="TlsDecryptError"{print \$2}' /proc/net/tls_stat)
if [ "\${tx:-0}" -gt 0 ] && [ "\${bad:-0}" -eq 0 ]; then
	echo "TLS_STAT_OK TlsTxSw=\$tx"
else
	echo "TLS_STAT_BAD TlsTxSw=\${tx:-?} TlsDecryptError=\${bad:-?}"
	rc=1
fi
exit \$rc
GUEST
chmod +x "$work/ktls-guest.sh"

echo "ktls-vm-test: booting the VM"
set +e
KTLS_VM_FILES="$bin" "$vm_dir/run.sh" "$work/ktls-guest.sh" | tee "$work/vm.log"
rc=${PIPESTATUS[0]}
set -e
done_at=$(date +%s)

if [ "$rc" -eq 0 ] && ! grep -q "KTLS_SELFTEST OK" "$work/vm.log"; then rc=1; fi
if [ "$rc" -eq 0 ] && ! grep -q "TLS_STAT_OK" "$work/vm.log"; then rc=1; fi
echo "ktls-vm-test: build $((built - start)) s, VM $((done_at - built)) s, exit $rc"
if [ "$rc" -eq 0 ]; then
	echo "ktls-vm-test: 1 passed, 0 failed"
else
	echo "ktls-vm-test: 0 passed, 1 failed"
fi
exit "$rc"
