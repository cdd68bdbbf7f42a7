#!/usr/bin/env bash
# Side-by-side benchmark: auditship against what people use instead, in the
# same run and on the same bytes, all on loopback (MariaDB with the audit
# plugin, the RDS emulator, moto as S3):
#
#  1. one instance, every file new (MB megabytes of real audit log, rotating
#     every ROTATE_MB): GNU gzip -6 of the concatenated files (the floor), the
#     AWS CLI pipeline (download-db-log-file-portion | gzip | aws s3 cp -), a
#     boto3 loop over the portion API, and auditship; on two corpora: the
#     rig's traffic with one repeated payload (compresses ~80 : 1) and with
#     varied values in every statement (~4 : 1, as application traffic);
#  2. a growing active file of SIZE megabytes, shipped, then ~1 MB more: the
#     bytes downloaded per new byte with the emulator's ranges honoured and
#     ignored, and the whole-read wire bytes with gzip honoured and ignored;
#  3. a fleet of FLEET small instances (copies of real audit files), cold
#     then idle: RDS calls and downloads per instance;
#  4. peak RSS shipping one rotated file of BIG_MB / 4 and of BIG_MB
#     megabytes (the varied corpus's files one after another).
#
# Prints a Markdown section and writes it to .stack/bench/side_by_side.md
# (BENCHMARKS.md is left alone). Fails (non-zero, one line) if a tool's
# output is wrong.
#
#   MB=64 SIZE=256 FLEET=100 tests/bench/side_by_side.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
MB=${MB:-64}
ROTATE_MB=${ROTATE_MB:-8}
SIZE=${SIZE:-256}
FLEET=${FLEET:-100}
BIG_MB=${BIG_MB:-1024}
REPEAT=${REPEAT:-5}        # part 1: gzip and auditship runs, the median reported
FLEET_KB=${FLEET_KB:-512}  # audit log per fleet instance (in about 4 files)
PAGE_SIZE=${PAGE_SIZE:-100} # emulator records per Describe* page (RDS: up to 100)
command="MB=$MB ROTATE_MB=$ROTATE_MB SIZE=$SIZE FLEET=$FLEET BIG_MB=$BIG_MB REPEAT=$REPEAT tests/bench/side_by_side.sh"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

die() { echo "side_by_side: $*" >&2; exit 1; }
say() { echo "side_by_side: $*" >&2; }

tests/stack/install.sh
awsvenv="$root/.stack/awscli"
if [ ! -x "$awsvenv/bin/aws" ]; then
  say "AWS CLI v1 from PyPI into $awsvenv"
  python3 -m venv "$awsvenv"
  "$awsvenv/bin/pip" install -q --disable-pip-version-check 'awscli>=1.30,<2'
fi
aws="$awsvenv/bin/aws"
py="$root/.stack/venv/bin/python"
helper="$root/tests/bench/side_by_side.py"
cargo build --release --quiet -p auditship --bin auditship
cargo build --release --quiet -p auditship-testkit
auditship="$root/target/release/auditship"
testkit="$root/target/release/auditship-testkit"

. tests/stack/lib.sh  # free_port, make_bucket
w="$root/.stack/bench/side_by_side"
md="$root/.stack/bench/side_by_side.md"
m="$w/m" # one measurement: NAME.{time,out,log,before.json,after.json,verify.json}

servers=()
emulator_pid=
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
  tests/stack/moto.sh stop "$w/moto.pid" 2>/dev/null || true
  for s in "${servers[@]}"; do tests/stack/mariadb.sh stop "$s" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$w" && mkdir -p "$m" "$w/fleet"

# The rig's credentials (lib.sh's world), and nothing from ~/.aws.
export AWS_ACCESS_KEY_ID=AKIDAUDITSHIPDEMO AWS_SECRET_ACCESS_KEY=auditship-demo-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$w/aws-config" AWS_SHARED_CREDENTIALS_FILE="$w/aws-credentials"
: >"$AWS_CONFIG_FILE"; : >"$AWS_SHARED_CREDENTIALS_FILE"
unset AWS_PROFILE AWS_SESSION_TOKEN

# ---------------------------------------------------------------- the rig
s3=$(tests/stack/moto.sh start "$w/moto.pid")
{
  echo '{"credentials": {"AKIDAUDITSHIPDEMO": "auditship-demo-secret"}, "page_size": '"$PAGE_SIZE"','
  echo ' "instances": ['
  echo '  {"id": "bench-repeated", "resource_id": "db-BENCHREPEATED00000000000001", "engine": "mariadb", "audit_dir": "'"$w/repeated/audit"'"},'
  echo '  {"id": "bench-varied", "resource_id": "db-BENCHVARIED0000000000000001", "engine": "mariadb", "audit_dir": "'"$w/varied/audit"'"},'
  echo '  {"id": "bench-big1", "resource_id": "db-BENCHBIG100000000000000001", "engine": "mariadb", "audit_dir": "'"$w/big1/audit"'"},'
  echo '  {"id": "bench-big2", "resource_id": "db-BENCHBIG200000000000000001", "engine": "mariadb", "audit_dir": "'"$w/big2/audit"'"},'
  echo -n '  {"id": "bench-grow", "resource_id": "db-BENCHGROW000000000000000001", "engine": "mariadb", "audit_dir": "'"$w/grow/audit"'"}'
  for i in $(seq 0 $((FLEET - 1))); do
    id=$(printf 'fleet-%03d' "$i")
    printf ',\n  {"id": "%s", "resource_id": "db-FLEET%021d", "engine": "mariadb", "audit_dir": "%s", "tags": {"fleet": "bench"}}' \
      "$id" "$i" "$w/fleet/$id"
  done
  echo
  echo ' ]}'
} >"$w/world.json"
setsid "$testkit" rds-emulator --config "$w/world.json" >"$w/emulator.out" 2>&1 </dev/null &
emulator_pid=$!
for _ in $(seq 1 50); do grep -q listening "$w/emulator.out" 2>/dev/null && break; sleep 0.1; done
rds=$(sed -n 's/^listening on //p' "$w/emulator.out")
[ -n "$rds" ] || die "the RDS emulator did not start: $(tail -1 "$w/emulator.out")"
case "$rds$s3" in *127.0.0.1*127.0.0.1*) ;; *) die "endpoints not on loopback: $rds $s3" ;; esac
bucket=bench
make_bucket "$bucket"

# A MariaDB server of our own: start_server NAME ROTATE_SIZE ROTATIONS → port in $port
start_server() {
  port=$(free_port)
  servers+=("$w/$1")
  ROTATE_SIZE=$2 ROTATIONS=$3 tests/stack/mariadb.sh start "$w/$1" "$port" 1 >/dev/null
}
audit_bytes() { cat "$1"/* | wc -c; }
# write_until AUDIT_DIR PORT BYTES: real traffic until the audit files hold BYTES.
# TRAFFIC_FLAGS: more flags for the traffic generator.
write_until() {
  local dir=$1 port=$2 target=$3 probe=1000 have per rest
  # shellcheck disable=SC2086
  "$testkit" traffic --port "$port" --queries "$probe" --payload 400 ${TRAFFIC_FLAGS:-} >&2
  have=$(audit_bytes "$dir"); per=$((have / probe))
  while [ "$have" -lt "$target" ]; do
    rest=$(( (target - have) / per + 1 ))
    # shellcheck disable=SC2086
    "$testkit" traffic --port "$port" --queries "$rest" --payload 400 ${TRAFFIC_FLAGS:-} >&2
    have=$(audit_bytes "$dir")
  done
  echo "$per"
}

# measure NAME CMD...: CMD's wall time and peak RSS (the largest process of
# its tree), its stdout and stderr, the emulator's counters before and after.
measure() {
  local name=$1 rc=0; shift
  "$py" "$helper" snap "$rds" "$m/$name.before.json"
  /usr/bin/time -f "%e %M" -o "$m/$name.time" "$@" >"$m/$name.out" 2>"$m/$name.log" || rc=$?
  [ "$rc" = 0 ] || die "$name exited $rc: $(grep -v '^ *$' "$m/$name.log" | tail -1)"
  "$py" "$helper" snap "$rds" "$m/$name.after.json"
}
# ship NAME PREFIX SELECTION...: one auditship run, every instance ': ok'.
ship() {
  local name=$1 prefix=$2; shift 2
  measure "$name" "$auditship" run --log-format json --metrics off "$@" --bucket "$bucket" --prefix "$prefix" \
    --rds-endpoint-url "$rds" --s3-endpoint-url "$s3"
  grep -q . "$m/$name.out" || die "$name: auditship printed no summary"
  if grep -v ': ok$' "$m/$name.out" | grep -q .; then
    die "$name: not ok: $(grep -v ': ok$' "$m/$name.out" | head -1)"
  fi
}
download() { "$py" "$helper" download "$rds" "$1" "$2"; }
verify() { # verify NAME ARGS... → $m/NAME.verify.json
  "$py" "$helper" verify --s3 "$s3" --bucket "$bucket" "${@:2}" >"$m/$1.verify.json"
}

# ---------------------------------------------------------------- 1. one instance
# one_instance CORPUS TRAFFIC_FLAGS...: part 1 on the audit log a MariaDB
# server writes for that traffic; measurements are named CORPUS_TOOL.
one_instance() {
  local c=$1; shift
  local dir="$w/$c/audit" id="bench-$c"
  say "1. one instance ($c payloads): writing ~$MB MB of audit log, rotating every $ROTATE_MB MB"
  start_server "$c" $((ROTATE_MB << 20)) 100
  TRAFFIC_FLAGS="$*" write_until "$dir" "$port" $((MB << 20)) >/dev/null
  tests/stack/mariadb.sh stop "$w/$c"  # the files are final from here on
  local bytes files
  bytes=$(audit_bytes "$dir")
  files=$(find "$dir" -type f -size +0 | wc -l)
  echo "\"${c}_bytes\": $bytes, \"${c}_files\": $files," >>"$w/one.meta"
  cat "$dir"/* >"$w/one.concat"

  say "1. $c: gzip -6 ($REPEAT times)"
  for i in $(seq 1 "$REPEAT"); do
    measure "${c}_gzip_r$i" sh -c 'gzip -6 -c "$1" >"$2"' sh "$w/one.concat" "$w/one.concat.gz"
  done
  keep_median "${c}_gzip"
  gzip -dc "$w/one.concat.gz" | cmp -s - "$w/one.concat" || die "gzip -6 output does not inflate to the concatenated files"
  printf '{"gz_bytes": %d, "inflated_bytes": %d, "file_bytes": %d, "files": %d, "files_exact": %d}\n' \
    "$(stat -c %s "$w/one.concat.gz")" "$bytes" "$bytes" "$files" "$files" >"$m/${c}_gzip.verify.json"
  rm -f "$w/one.concat" "$w/one.concat.gz"

  say "1. $c: AWS CLI pipeline"
  measure "${c}_cli" bash -c "$cli" bash "$aws" "$id" "$rds" "$s3" "$bucket" "$c-cli"
  verify "${c}_cli" --prefix "$c-cli" --layout plain --dir "$dir"

  say "1. $c: boto3 loop"
  measure "${c}_boto3" "$py" "$helper" boto3-ship --rds "$rds" --s3 "$s3" --bucket "$bucket" --instance "$id" --prefix "$c-boto3"
  verify "${c}_boto3" --prefix "$c-boto3" --layout plain --dir "$dir"

  say "1. $c: auditship ($REPEAT cold runs, each into its own prefix)"
  for i in $(seq 1 "$REPEAT"); do
    ship "${c}_auditship_r$i" "$c-r$i" --instance "$id"
    verify "${c}_auditship_r$i" --prefix "$c-r$i" --layout auditship --dir "$dir" --instance "$id"
  done
  keep_median "${c}_auditship"
  # The emulator gzips whole-file reads on these same 2 cores (RDS does it
  # on its own): also measured with identity downloads.
  download honoured ignored
  for i in $(seq 1 "$REPEAT"); do
    ship "${c}_auditship_identity_r$i" "$c-identity-r$i" --instance "$id"
    verify "${c}_auditship_identity_r$i" --prefix "$c-identity-r$i" --layout auditship --dir "$dir" --instance "$id"
  done
  keep_median "${c}_auditship_identity"
  download honoured honoured
}
# keep_median NAME: of the measurements NAME_r1..NAME_rREPEAT (each checked),
# the one of median wall time becomes NAME (a single run is as noisy as
# the machine: other jobs share its cores).
keep_median() {
  local name=$1 pick f
  pick=$(for f in "$m/${name}"_r*.time; do echo "$(cut -d' ' -f1 "$f") $(basename "$f" .time)"; done \
    | sort -n | awk '{a[NR]=$2} END {print a[int((NR + 1) / 2)]}')
  for f in "$m/$pick".*; do cp "$f" "$m/$name.${f#"$m/$pick".}"; done
  echo "\"${name}_runs\": \"$(for f in "$m/${name}"_r*.time; do cut -d' ' -f1 "$f"; done | sort -n | tr '\n' ' ' | sed 's/ $//')\"," >>"$w/one.meta"
}
# shellcheck disable=SC2016
cli='set -euo pipefail
aws=$1 id=$2 rds=$3 s3=$4 bucket=$5 prefix=$6
names=$("$aws" rds describe-db-log-files --db-instance-identifier "$id" --endpoint-url "$rds" \
  --query "DescribeDBLogFiles[].LogFileName" --output text)
[ -n "$names" ] || { echo "no log files listed" >&2; exit 1; }
for n in $names; do
  "$aws" rds download-db-log-file-portion --db-instance-identifier "$id" --log-file-name "$n" \
      --starting-token 0 --output text --endpoint-url "$rds" \
    | gzip | "$aws" s3 cp - "s3://$bucket/$prefix/${n#audit/}.gz" --endpoint-url "$s3"
done'
: >"$w/one.meta"
one_instance repeated
one_instance varied --varied-payload

# ---------------------------------------------------------------- 2. growing file
say "2. growing file: writing ~$SIZE MB into one active file"
start_server grow $(( (2 * SIZE + 64) << 20 )) 10
per=$(write_until "$w/grow/audit" "$port" $((SIZE << 20)))
[ "$(find "$w/grow/audit" -type f | wc -l)" = 1 ] || die "the growing file rotated: $(ls "$w/grow/audit" | tr '\n' ' ')"
grow_bytes=$(audit_bytes "$w/grow/audit")
download honoured honoured
ship grow_h_cold grow-h --instance bench-grow
download ignored ignored
ship grow_i_cold grow-i --instance bench-grow
say "2. growing file: ~1 MB more"
"$testkit" traffic --port "$port" --queries $(( (1 << 20) / per + 1 )) --payload 400
[ "$(find "$w/grow/audit" -type f | wc -l)" = 1 ] || die "the growing file rotated"
download honoured honoured
ship grow_h_inc grow-h --instance bench-grow
download ignored honoured
ship grow_i_inc grow-i --instance bench-grow
download honoured honoured
grow_bytes_after=$(audit_bytes "$w/grow/audit")
verify grow_h --prefix grow-h --layout auditship --dir "$w/grow/audit" --instance bench-grow
verify grow_i --prefix grow-i --layout auditship --dir "$w/grow/audit" --instance bench-grow
tests/stack/mariadb.sh stop "$w/grow"

# ---------------------------------------------------------------- 3. fleet
say "3. fleet: $FLEET instances with copies of ~$FLEET_KB KiB of real audit files"
start_server fleetsrc $(( FLEET_KB * 1024 / 4 )) 20
write_until "$w/fleetsrc/audit" "$port" $((FLEET_KB << 10)) >/dev/null
tests/stack/mariadb.sh stop "$w/fleetsrc"
fleet_files=$(find "$w/fleetsrc/audit" -type f -size +0 | wc -l)
fleet_set_bytes=$(audit_bytes "$w/fleetsrc/audit")
for i in $(seq 0 $((FLEET - 1))); do
  cp -a "$w/fleetsrc/audit" "$w/fleet/$(printf 'fleet-%03d' "$i")"
done
ship fleet_cold fleet --tag fleet=bench
[ "$(grep -c ': ok$' "$m/fleet_cold.out")" = "$FLEET" ] || die "fleet_cold: $(grep -c ': ok$' "$m/fleet_cold.out") of $FLEET instances shipped"
ship fleet_idle fleet --tag fleet=bench
[ "$(grep -c ': ok$' "$m/fleet_idle.out")" = "$FLEET" ] || die "fleet_idle: $(grep -c ': ok$' "$m/fleet_idle.out") of $FLEET instances ok"
verify fleet --prefix fleet --layout auditship --dir "$w/fleet" --per-instance
concurrency=$("$auditship" run --help | sed -n '/--concurrency/,/default:/s/.*\[default: \([0-9]*\)\].*/\1/p' | head -1)

# ---------------------------------------------------------------- 4. large files
# big N MB: instance bench-bigN gets a rotated file of at least MB
# megabytes (the varied corpus's rotated files, one after another: real
# audit lines) and the corpus's active file; one run ships both.
big() {
  local n=$1 mb=$2 dir="$w/big$1/audit" file
  mkdir -p "$dir"
  file="$dir/server_audit.log.001"
  say "4. one rotated file of ~$mb MB"
  while [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -lt $((mb << 20)) ]; do
    cat "$w/varied/audit"/server_audit.log.0* >>"$file"
  done
  cp "$w/varied/audit/server_audit.log" "$dir/server_audit.log"
  echo "\"big${n}_bytes\": $(audit_bytes "$dir"), \"big${n}_largest\": $(stat -c %s "$file")," >>"$w/one.meta"
  ship "big$n" "big$n" --instance "bench-big$n"
  verify "big$n" --prefix "big$n" --layout auditship --dir "$dir" --instance "bench-big$n"
  rm -rf "$dir"
}
big 1 $((BIG_MB / 4))
big 2 "$BIG_MB"

# ---------------------------------------------------------------- report
cat >"$m/meta.json" <<JSON
{"command": "$command", "MB": $MB, "ROTATE_MB": $ROTATE_MB, "SIZE": $SIZE, "fleet": $FLEET, "page_size": $PAGE_SIZE,
 "commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src tests/testkit 2>/dev/null || echo '+changes')",
 "aws_version": "$("$aws" --version 2>&1 | cut -d' ' -f1,4)",
 "boto3_version": "$("$py" -c 'import boto3; print(boto3.__version__)')",
 "gzip_version": "$(gzip --version | head -1)",
 "load": "$load_at_start",
 $(cat "$w/one.meta")
 "grow_bytes": $grow_bytes, "grow_bytes_after": $grow_bytes_after,
 "fleet_files": $fleet_files, "fleet_set_bytes": $fleet_set_bytes, "concurrency": ${concurrency:-0}}
JSON
"$py" "$helper" observe "$m" >"$m/notes.txt"
"$py" "$helper" report "$m" >"$md.new"
mv "$md.new" "$md"
cat "$md"
