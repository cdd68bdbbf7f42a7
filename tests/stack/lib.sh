# Shared by demo.sh and the end-to-end benchmark: start and stop a local
# stack (MariaDB primary + replica, moto S3, RDS emulator) under $dir.
# Source it, set dir=..., then call stack_up / stack_down.
# After stack_up: $p1 $p2 (MariaDB ports), $s3 and $rds (endpoint URLs),
# and AWS_* variables with the emulator's credentials are exported.

stack_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stack_down() {
  [ -f "$dir/emulator.pid" ] && kill "$(cat "$dir/emulator.pid")" 2>/dev/null || true
  "$stack_root/tests/stack/moto.sh" stop "$dir/moto.pid"
  "$stack_root/tests/stack/mariadb.sh" stop "$dir/primary" 2>/dev/null || true
  "$stack_root/tests/stack/mariadb.sh" stop "$dir/replica" 2>/dev/null || true
}

# stack_up TESTKIT_BIN — ROTATE_SIZE and ROTATIONS pass through to MariaDB.
stack_up() {
  local testkit=$1
  stack_down
  rm -rf "$dir" && mkdir -p "$dir"
  p1=$(free_port); p2=$(free_port)
  "$stack_root/tests/stack/mariadb.sh" start "$dir/primary" "$p1" 1
  "$stack_root/tests/stack/mariadb.sh" start "$dir/replica" "$p2" 2 "$p1"
  s3=$("$stack_root/tests/stack/moto.sh" start "$dir/moto.pid")
  cat >"$dir/world.json" <<JSON
{"credentials": {"AKIDAUDITSHIPDEMO": "auditship-demo-secret"},
 "instances": [
  {"id": "shop-primary", "resource_id": "db-DEMOPRIMARY0000000000000001", "engine": "mariadb",
   "audit_dir": "$dir/primary/audit", "tags": {"team": "shop"}},
  {"id": "shop-replica", "resource_id": "db-DEMOREPLICA000000000000001", "engine": "mariadb",
   "audit_dir": "$dir/replica/audit", "replica_of": "shop-primary", "tags": {"team": "shop"}}
 ]}
JSON
  setsid "$testkit" rds-emulator --config "$dir/world.json" >"$dir/emulator.out" 2>&1 < /dev/null &
  echo $! >"$dir/emulator.pid"
  for _ in $(seq 1 50); do grep -q listening "$dir/emulator.out" 2>/dev/null && break; sleep 0.1; done
  rds=$(sed -n 's/^listening on //p' "$dir/emulator.out")
  export AWS_ACCESS_KEY_ID=AKIDAUDITSHIPDEMO AWS_SECRET_ACCESS_KEY=auditship-demo-secret AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
}

# make_bucket NAME
make_bucket() {
  "$stack_root/.stack/venv/bin/python" - "$s3" "$1" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").create_bucket(Bucket=sys.argv[2])
PY
}

# stack_env — writes $dir/env (the endpoints and credentials to reach the
# stack, for `. $dir/env`) and prints it.
stack_env() {
  cat >"$dir/env" <<ENV
export AUDITSHIP_RDS_ENDPOINT_URL=$rds
export AUDITSHIP_S3_ENDPOINT_URL=$s3
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_REGION=$AWS_REGION
export AWS_EC2_METADATA_DISABLED=true
# MariaDB (user app, password app-pass): primary 127.0.0.1:$p1, replica 127.0.0.1:$p2
ENV
  cat "$dir/env"
}
