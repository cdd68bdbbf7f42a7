#!/usr/bin/env bash
# One shipping pass against a local stack, then what landed in S3.
#
# Starts a MariaDB primary and a replica (audit plugin on, tiny rotate
# size), moto as the S3 server and the RDS emulator, all on loopback;
# generates traffic with several rotations; runs `auditship run`; lists the
# objects and prints the first lines of one. Stops everything at the end
# (KEEP=1 leaves the stack running and prints how to reach it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tests/stack/install.sh
cargo build --workspace --quiet

dir="$root/.stack/demo"
tests/stack/mariadb.sh stop "$dir/primary" 2>/dev/null || true
tests/stack/mariadb.sh stop "$dir/replica" 2>/dev/null || true
[ -f "$dir/emulator.pid" ] && kill "$(cat "$dir/emulator.pid")" 2>/dev/null || true
tests/stack/moto.sh stop "$dir/moto.pid"
rm -rf "$dir" && mkdir -p "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(free_port); p2=$(free_port)
ROTATE_SIZE=20000 ROTATIONS=5 tests/stack/mariadb.sh start "$dir/primary" "$p1" 1
ROTATE_SIZE=20000 ROTATIONS=5 tests/stack/mariadb.sh start "$dir/replica" "$p2" 2 "$p1"
s3=$(tests/stack/moto.sh start "$dir/moto.pid")

cat >"$dir/world.json" <<JSON
{"credentials": {"AKIDAUDITSHIPDEMO": "auditship-demo-secret"},
 "instances": [
  {"id": "shop-primary", "resource_id": "db-DEMOPRIMARY0000000000000001", "engine": "mariadb",
   "audit_dir": "$dir/primary/audit", "tags": {"team": "shop"}},
  {"id": "shop-replica", "resource_id": "db-DEMOREPLICA000000000000001", "engine": "mariadb",
   "audit_dir": "$dir/replica/audit", "replica_of": "shop-primary", "tags": {"team": "shop"}}
 ]}
JSON
setsid target/debug/auditship-testkit rds-emulator --config "$dir/world.json" >"$dir/emulator.out" 2>&1 < /dev/null &
echo $! >"$dir/emulator.pid"
for _ in $(seq 1 50); do grep -q listening "$dir/emulator.out" 2>/dev/null && break; sleep 0.1; done
rds=$(sed -n 's/^listening on //p' "$dir/emulator.out")

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo; echo "stack left running: RDS $rds, S3 $s3, MariaDB 127.0.0.1:$p1 and :$p2 (user app / app-pass)"
    return
  fi
  kill "$(cat "$dir/emulator.pid")" 2>/dev/null || true
  tests/stack/moto.sh stop "$dir/moto.pid"
  tests/stack/mariadb.sh stop "$dir/primary"; tests/stack/mariadb.sh stop "$dir/replica"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=AKIDAUDITSHIPDEMO AWS_SECRET_ACCESS_KEY=auditship-demo-secret AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$root/.stack/venv/bin/python" - "$s3" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").create_bucket(Bucket="audit-demo")
PY

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
