#!/usr/bin/env bash
# Runs every test of the project on this machine: installs the local stack's
# parts if missing, builds the workspace, starts one S3 server for the whole
# run, and runs the unit, property and end-to-end tests. Loopback only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tests/stack/install.sh
mkdir -p .stack
export AUDITSHIP_MOTO_SERVER="$root/.stack/venv/bin/moto_server"

cargo fmt --all --check
cargo build --workspace --all-targets

pidfile="$root/.stack/test-moto.pid"
AUDITSHIP_TEST_S3_URL=$(tests/stack/moto.sh start "$pidfile")
export AUDITSHIP_TEST_S3_URL
trap 'tests/stack/moto.sh stop "$pidfile"' EXIT

cargo test --workspace --all-targets

# Dockerfile lint, the container's static build, Terraform static checks.
tests/deploy-checks/check.sh

# The README's first command, as a newcomer runs it.
tests/stack/demo-check.sh

# Coverage-guided fuzzing of every parser of untrusted bytes, briefly; a
# longer session: tests/fuzz/run.sh 600
tests/fuzz/run.sh "${AUDITSHIP_FUZZ_SECONDS:-20}"
