#!/usr/bin/env bash
# The README's first command works as it says: `KEEP=1 tests/stack/demo.sh`
# ships, prints the stack's credentials and leaves an env file; with that
# file sourced, `status` and `verify` read the stack and find all shipped.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
trap 'tests/stack/stack.sh down >/dev/null 2>&1 || true' EXIT
log="$root/.stack/demo-check.log"
mkdir -p .stack
KEEP=1 tests/stack/demo.sh >"$log" 2>&1 || { echo "demo-check: demo.sh failed:" >&2; tail -40 "$log" >&2; exit 1; }
for said in "exit code: 0" "== what landed in s3://audit-demo" "AWS_SECRET_ACCESS_KEY=" ".stack/demo/env"; do
  grep -qF -- "$said" "$log" || { echo "demo-check: demo.sh did not say '$said'" >&2; tail -40 "$log" >&2; exit 1; }
done
# shellcheck disable=SC1091
. .stack/demo/env
selection=(--instance shop-primary --with-replicas --bucket audit-demo)
status=$(target/debug/auditship status "${selection[@]}")
# Both instances committed (the active file may have grown since: MariaDB
# keeps writing, so unshipped bytes are not checked here).
for instance in shop-primary shop-replica; do
  echo "$status" | grep "^$instance " | grep -q " ago)$" || { echo "demo-check: status after the demo: $status" >&2; exit 1; }
done
target/debug/auditship verify "${selection[@]}" >/dev/null
echo "demo-check: demo ran, its env file reaches the stack, status and verify agree"
