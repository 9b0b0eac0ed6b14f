# What the kTLS VM scripts share (ci/ktls-vm-kftpd.sh, ci/ktls-vm-kept.sh,
# scripts/bench-ktls-modee.sh); sourced by bash running with `set -euo pipefail`.
#
#   ktls_vm_setup NAME debug|release
#     Sets repo, vm_dir (KTLS_VM_DIR, default ../shared/ktls-vm beside the checkout),
#     target (CARGO_TARGET_DIR) and work: a fresh folder, removed on exit, holding kftpd
#     and kftp from target/PROFILE without their debug info (a smaller initramfs boots
#     faster) and users.toml with the account alice (password vm-secret). Missing debug
#     binaries are built (in CI `cargo test` has built them); release ones must be there.
#   ktls_vm_check NAME GUEST PATTERN MARKER COUNT
#     Runs $work/GUEST in the VM with those three files (KTLS_VM_MEM, default 1024 MiB),
#     shows the log lines matching PATTERN, and passes (exit 0) only if the VM run
#     succeeded and the extended regex MARKER is on COUNT lines of its log; prints
#     "N passed, M failed" either way.

ktls_vm_setup() {
	local name=$1 profile=$2 b
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	vm_dir=${KTLS_VM_DIR:-$(cd "$repo/.." && pwd)/shared/ktls-vm}
	target=${CARGO_TARGET_DIR:-$repo/target}
	if [ ! -x "$vm_dir/run.sh" ]; then
		echo "$name: $vm_dir/run.sh not found (set KTLS_VM_DIR)" >&2
		exit 2
	fi
	if [ ! -x "$target/$profile/kftpd" ] || [ ! -x "$target/$profile/kftp" ]; then
		if [ "$profile" != debug ]; then
			echo "$name: build first: cargo build --$profile -p kftpd -p kftp" >&2
			exit 2
		fi
		(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet -p kftpd -p kftp)
	fi
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	for b in kftpd kftp; do
		strip --strip-debug -o "$work/$b" "$target/$profile/$b" 2>/dev/null || cp "$target/$profile/$b" "$work/"
	done
	printf 'vm-secret\n' | "$work/kftpd" user add alice --users "$work/users.toml" --password-stdin >/dev/null
}

ktls_vm_check() {
	local name=$1 guest=$2 pattern=$3 marker=$4 want=$5 start rc passed
	chmod +x "$work/$guest"
	start=$(date +%s)
	cd "$work"
	set +e
	KTLS_VM_FILES="$work/kftpd $work/kftp $work/users.toml" KTLS_VM_MEM=${KTLS_VM_MEM:-1024} \
		"$vm_dir/run.sh" "$work/$guest" >"$work/vm.log" 2>&1
	rc=$?
	set -e
	grep -E "$pattern" "$work/vm.log" || tail -40 "$work/vm.log"
	echo "$name: VM run took $(($(date +%s) - start)) s"
	passed=$(grep -cE "$marker" "$work/vm.log" || true)
	if [ $rc -eq 0 ] && [ "$passed" -eq "$want" ]; then
		echo "$want passed, 0 failed"
		exit 0
	fi
	echo "$passed passed, $((want - passed)) failed"
	exit 1
}
