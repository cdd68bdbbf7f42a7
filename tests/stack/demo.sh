#!/usr/bin/env bash
# One shipping pass against a local stack, then what landed in S3.
#
# Starts a MariaDB primary and a replica (audit plugin on, tiny rotate
# size), moto as the S3 server and the RDS emulator, all on loopback;
# generates traffic with several rotations; runs `auditship run`; lists the
# objects and prints the first lines of one. Stops everything at the end
# (KEEP=1 leaves the stack running and prints the credentials and an env
# file to source, as `tests/stack/stack.sh up` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tests/stack/install.sh
cargo build --workspace --quiet

dir="$root/.stack/demo"
. tests/stack/lib.sh
ROTATE_SIZE=20000 ROTATIONS=5 stack_up target/debug/auditship-testkit

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo; echo "== the stack is left running; its endpoints and credentials are in $dir/env:"
    stack_env
    echo; echo "try: . $dir/env && target/debug/auditship status --instance shop-primary --with-replicas --bucket audit-demo"
    echo "stop it with: tests/stack/stack.sh down"
    return
  fi
  stack_down
}
trap cleanup EXIT
make_bucket audit-demo

echo "== traffic: 1500 statements on the primary with rotations, 100 reads on the replica"
target/debug/auditship-testkit traffic --port "$p1" --queries 1500 --rotate-every 400
target/debug/auditship-testkit traffic --port "$p2" --queries 100 --read-only
ls -l "$dir/primary/audit" "$dir/replica/audit"

echo; echo "== auditship run"
set +e
target/debug/auditship --log-format human run --instance shop-primary --with-replicas \
  --bucket audit-demo --rds-endpoint-url "$rds" --s3-endpoint-url "$s3"
code=$?
set -e
echo "exit code: $code"

echo; echo "== what landed in s3://audit-demo"
"$root/.stack/venv/bin/python" - "$s3" <<'PY'
import gzip, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="audit-demo").get("Contents", [])]
for k in keys:
    h = s3.head_object(Bucket="audit-demo", Key=k)
    m = h["Metadata"]
    print(f'{h["ContentLength"]:>8}  {k}' + (f'  [{m["start-offset"]}..{m["end-offset"]}) {m["lines"]} lines, {m["role"]}' if "end-offset" in m else ""))
first = next(k for k in keys if k.endswith(".log.gz"))
print(f"\n== first lines of {first}")
body = gzip.decompress(s3.get_object(Bucket="audit-demo", Key=first)["Body"].read())
print(b"\n".join(body.split(b"\n")[:3]).decode("utf-8", "replace"))
PY
exit "$code"
