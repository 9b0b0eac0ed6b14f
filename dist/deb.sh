#!/usr/bin/env bash
# Builds the Debian package target/debian/kftpd_<version>-1_<arch>.deb:
#   dist/deb.sh && apt install ./target/debian/kftpd_*.deb
# 1. kftpd and kftp with the `dist` profile (release without debug info; cargo-deb strips);
# 2. their man pages and bash/zsh/fish completions, made from the clap definitions by the
#    binaries themselves (`kftpd generate-dist DIR`) into target/dist-gen;
# 3. cargo deb --no-build, with [package.metadata.deb] of crates/kftpd/Cargo.toml.
# Installs cargo-deb from crates.io if it is missing. KFTP_DEB_NO_BUILD=1 skips step 1
# (reuse target/dist/ as it is).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked
fi
if [[ "${KFTP_DEB_NO_BUILD:-}" != 1 ]]; then
  cargo build --profile dist -p kftpd -p kftp
fi
gen=target/dist-gen
rm -rf "$gen"
target/dist/kftpd generate-dist "$gen"
target/dist/kftp generate-dist "$gen"
cargo deb -p kftpd --profile dist --no-build "$@"
