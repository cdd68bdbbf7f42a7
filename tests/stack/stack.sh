#!/usr/bin/env bash
# Starts or stops the local stack on loopback: MariaDB primary and replica
# with the audit plugin, moto's S3 server, the RDS emulator.
#
#   tests/stack/stack.sh up     start (fresh), print the endpoints as shell variables
#   tests/stack/stack.sh down   stop everything
#
# State lives in .stack/demo; tests/stack/demo.sh uses the same stack.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dir="$root/.stack/demo"
. tests/stack/lib.sh
case "${1:-}" in
up)
  tests/stack/install.sh
  cargo build --workspace --quiet
  ROTATE_SIZE=${ROTATE_SIZE:-20000} ROTATIONS=${ROTATIONS:-5} stack_up target/debug/auditship-testkit
  stack_env
  ;;
down) stack_down ;;
*) echo "usage: tests/stack/stack.sh up|down" >&2; exit 2 ;;
esac
