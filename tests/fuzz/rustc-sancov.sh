#!/usr/bin/env bash
# RUSTC_WRAPPER for the fuzz build: adds libFuzzer's coverage
# instrumentation (the flags cargo-fuzz passes with `-s none`) to the crates
# whose branches the fuzzer should learn from, and to nothing else: the AWS
# SDK would take many minutes to instrument and holds no parser under test.
rustc=$1
shift
crate=""
prev=""
for arg in "$@"; do
    if [ "$prev" = "--crate-name" ]; then crate=$arg; fi
    prev=$arg
done
case "$crate" in
    auditship | auditship_fuzz | serde_json | chrono | checkpoint | log_names | identity | cut | object_metadata)
        exec "$rustc" "$@" --cfg fuzzing -Cpasses=sancov-module \
            -Cllvm-args=-sanitizer-coverage-level=4 \
            -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
            -Cllvm-args=-sanitizer-coverage-pc-table \
            -Cllvm-args=-sanitizer-coverage-trace-compares
        ;;
    *) exec "$rustc" "$@" ;;
esac
