#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on the
# stable toolchain (rustc-sancov.sh adds cargo-fuzz's `-s none` flags) and runs each
# for a bounded time from its seed corpus. A crash fails the script and
# leaves the input under tests/fuzz/artifacts/<target>/.
#   tests/fuzz/run.sh [seconds per target] [target...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(checkpoint log_names identity cut object_metadata audit_lines)
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
# An explicit --target keeps build scripts and proc macros uninstrumented.
RUSTC_WRAPPER="$here/rustc-sancov.sh" cargo build --release --target "$triple" --bins
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    work=$(mktemp -d)
    echo "fuzz: $t for ${seconds}s"
    # New inputs go to a scratch corpus; the seeds stay as committed.
    status=0
    "target/$triple/release/$t" "$work" "corpus/$t" \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$work.log" 2>&1 || status=$?
    tail -n 12 "$work.log"
    rm -rf "$work" "$work.log"
    if [ "$status" -ne 0 ]; then
        echo "fuzz: $t failed; the input is in tests/fuzz/artifacts/$t/" >&2
        exit "$status"
    fi
done
