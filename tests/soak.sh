#!/usr/bin/env bash
# The full soak: 200 rounds of traffic, rotations, random faults and kills
# (see tests/it/soak.rs), results written to RELIABILITY.md. Takes a while;
# tests/run-all.sh runs a short version.
#   AUDITSHIP_SOAK_ROUNDS=200 AUDITSHIP_TEST_SEED=N tests/soak.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tests/stack/install.sh
export AUDITSHIP_MOTO_SERVER="$root/.stack/venv/bin/moto_server"
cargo build --workspace --all-targets
export AUDITSHIP_SOAK_ROUNDS=${AUDITSHIP_SOAK_ROUNDS:-200}
export AUDITSHIP_SOAK_REPORT="$root/RELIABILITY.md"
cargo test --test it soak:: -- --nocapture
