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
  cat >"$dir/env" <<ENV
export AUDITSHIP_RDS_ENDPOINT_URL=$rds
export AUDITSHIP_S3_ENDPOINT_URL=$s3
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_REGION=$AWS_REGION
export AWS_EC2_METADATA_DISABLED=true
# MariaDB (user app, password app-pass): primary 127.0.0.1:$p1, replica 127.0.0.1:$p2
ENV
  cat "$dir/env"
  ;;
down) stack_down ;;
*) echo "usage: tests/stack/stack.sh up|down" >&2; exit 2 ;;
esac
