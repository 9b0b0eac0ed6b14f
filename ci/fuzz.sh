#!/bin/sh
# Runs every cargo-fuzz target for a bounded time and fails on the first crash.
#
#   ci/fuzz.sh              # ~84 s in total (12 s per target)
#   FUZZ_SECS=600 ci/fuzz.sh            # 10 minutes per target, locally
#   ci/fuzz.sh parse_line eprt          # only these targets
#
# Needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz). The committed seed
# corpus is fuzz/corpus/<target>/ (read only); new inputs go to fuzz/corpus-work/<target>/
# (not committed). Crashes land in fuzz/artifacts/<target>/ with the command to reproduce
# them; add a fixed crash to the seed corpus as a regression input.
set -eu
cd "$(dirname "$0")/../fuzz"
SECS="${FUZZ_SECS:-12}"
TARGETS="${*:-parse_line path_resolve reply_decoder eprt listing_parse proxy_header modee}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "ci/fuzz.sh: needs nightly and cargo-fuzz (rustup toolchain install nightly; cargo install cargo-fuzz)" >&2
    exit 2
fi
cargo +nightly fuzz build 2>&1 | tail -n 3 || true
status=0
for t in $TARGETS; do
    mkdir -p "corpus/$t" "corpus-work/$t"
    echo "== fuzz $t for ${SECS}s"
    if ! cargo +nightly fuzz run "$t" "corpus-work/$t" "corpus/$t" -- \
        -max_total_time="$SECS" -max_len=8192 \
        -print_final_stats=1 2>"fuzz-$t.log"; then
        echo "!! $t crashed; see fuzz/artifacts/$t/ and fuzz/fuzz-$t.log" >&2
        tail -n 40 "fuzz-$t.log" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "fuzz-$t.log" | sed "s/^/   $t /" || true
        rm -f "fuzz-$t.log"
    fi
done
exit $status
