#!/usr/bin/env bash
# Installs Garage (https://garagehq.deuxfleurs.fr/), the S3-compatible object store that the
# kftpd S3-backend tests run against (crates/kftpd/tests/s3/garage.rs starts a throwaway
# single-node instance per test).
#
# If a `garage` 2.x is already on PATH or in ~/.cargo/bin, nothing is done. Otherwise it is
# built from crates.io with `cargo install garage --locked --version '^2'` into ~/.cargo/bin
# (about 10 minutes on 2 cores; ~/.cargo/bin is kept between CI runs, so this happens once).
# Idempotent. Needs no root.
set -euo pipefail

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

# Prints the path of a usable garage 2.x, or fails.
find_garage() {
  local cand version
  for cand in "$(command -v garage 2>/dev/null || true)" "$cargo_bin/garage"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    # `garage --version` prints "garage v2.5.0 [features: ...]" for release builds and
    # "garage cargo:2.5.0 [features: ...]" for `cargo install` builds.
    version="$("$cand" --version 2>/dev/null | head -n 1 || true)"
    if [[ "$version" =~ ^garage[[:space:]]+([^[:space:]]*[:v])?2\.[0-9]+ ]]; then
      echo "$cand"
      return 0
    fi
    echo "install-garage: ignoring $cand (reports '${version:-nothing}', need 2.x)" >&2
  done
  return 1
}

if garage="$(find_garage)"; then
  echo "install-garage: using $garage ($("$garage" --version 2>/dev/null | head -n 1))"
  exit 0
fi

echo "install-garage: building garage 2.x with cargo install into $cargo_bin (10-20 minutes)"
# Only what the tests and the bench use (sqlite metadata): no metrics, K2V or LMDB, which
# leaves fewer crates to build. (Checked: the S3 tests pass on such a build.)
cargo install garage --locked --version '^2' --no-default-features --features bundled-libs,sqlite

if garage="$(find_garage)"; then
  echo "install-garage: installed $garage ($("$garage" --version 2>/dev/null | head -n 1))"
else
  echo "install-garage: cargo install finished but no garage 2.x found in PATH or $cargo_bin" >&2
  exit 1
fi
