#!/usr/bin/env bash
# End-to-end benchmark: a real MariaDB writes MB megabytes of audit log
# (rotating every 8 MB), then the release build of auditship ships it to
# moto's S3 through the RDS emulator, all on loopback. Four runs are timed:
# cold (everything new), cold with --events into a second bucket (the same
# bytes, also derived into OCSF Parquet: what inline events cost), idle
# (nothing new), incremental (after 10% more traffic). Results, the
# machine and this command are printed and written
# to .stack/bench/e2e.md, for BENCHMARKS.md.
#
#   MB=64 [REPEAT=5] tests/bench/e2e.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
MB=${MB:-64}
tests/stack/install.sh
cargo build --release --quiet -p auditship --bin auditship
cargo build --release --quiet -p auditship-testkit

dir="$root/.stack/bench"
. tests/stack/lib.sh
ROTATE_SIZE=$((8 << 20)) ROTATIONS=100 stack_up target/release/auditship-testkit
trap stack_down EXIT
make_bucket bench
make_bucket bench-events

# ~700-byte audit lines (the plugin logs queries up to 1 KiB by default).
queries=$((MB * 1024 * 1024 / 700))
echo "bench: writing ~${MB} MB of audit log ($queries statements)" >&2
target/release/auditship-testkit traffic --port "$p1" --queries "$queries" --payload 400
audit_bytes() { du -cb "$dir/primary/audit"/server_audit.log* | tail -1 | cut -f1; }

run() { # run NAME [BUCKET [FLAGS…]] → appends "NAME seconds maxrss_kb bytes_shipped" to $dir/results
  local name=$1 bucket=${2:-bench} out
  shift $(( $# < 2 ? $# : 2 ))
  out=$(/usr/bin/time -f "%e %M" target/release/auditship --log-format json run --instance shop-primary \
      --bucket "$bucket" --rds-endpoint-url "$rds" --s3-endpoint-url "$s3" "$@" 2>"$dir/$name.log" >"$dir/$name.out"; echo "exit=$?")
  local stats; stats=$(tail -1 "$dir/$name.log")
  local shipped; shipped=$(sed -n 's/.* \([0-9]*\) bytes shipped.*/\1/p' "$dir/$name.out")
  echo "$name $stats $shipped" >>"$dir/results"
  grep -q ': ok$' "$dir/$name.out" || { echo "bench: $name run failed" >&2; cat "$dir/$name.out" "$dir/$name.log" >&2; exit 1; }
}
: >"$dir/results"
total=$(audit_bytes)
run cold
run cold_events bench-events --events
grep -q '"events derived"' "$dir/cold_events.log" || { echo "bench: cold_events derived no events" >&2; exit 1; }
# REPEAT=N: N pairs of cold runs without and with --events, each into
# fresh buckets, alternating, so that the share events take is a median
# rather than one noisy pair on a shared machine.
REPEAT=${REPEAT:-1}
: >"$dir/pairs"
echo "$(awk '$1 == "cold" {print $2}' "$dir/results") $(awk '$1 == "cold_events" {print $2}' "$dir/results")" >>"$dir/pairs"
for i in $(seq 2 "$REPEAT"); do
  make_bucket "bench-$i"
  make_bucket "bench-events-$i"
  run "cold_$i" "bench-$i"
  run "cold_events_$i" "bench-events-$i" --events
  echo "$(awk -v n="cold_$i" '$1 == n {print $2}' "$dir/results") $(awk -v n="cold_events_$i" '$1 == n {print $2}' "$dir/results")" >>"$dir/pairs"
  sed -i "/^cold_$i /d; /^cold_events_$i /d" "$dir/results"
done
run idle
target/release/auditship-testkit traffic --port "$p1" --queries $((queries / 10)) --payload 400
run incremental

cpu=$(awk -F: '/model name/{gsub(/^ +/,"",$2); print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)
{
  echo "## End to end: one instance, $((total / 1048576)) MiB of real audit log"
  echo
  echo "Produced by \`MB=$MB tests/bench/e2e.sh\`."
  echo "Machine: $(nproc) cores ($cpu), $mem; $(date -u +%Y-%m-%d). MariaDB, the RDS emulator,"
  echo "moto and auditship share the machine, on loopback; auditship is the release build."
  echo
  echo "| run | wall time (s) | bytes shipped | throughput (MiB/s) | peak RSS (MiB) |"
  echo "|---|---|---|---|---|"
  while read -r name secs rss shipped; do
    tput=$(awk -v b="${shipped:-0}" -v s="$secs" 'BEGIN{ if (s > 0) printf "%.1f", b/1048576/s; else print "-" }')
    echo "| $name | $secs | ${shipped:-0} | $tput | $((rss / 1024)) |"
  done <"$dir/results"
  echo
  median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  cold=$(cut -d' ' -f1 "$dir/pairs" | median)
  with=$(cut -d' ' -f2 "$dir/pairs" | median)
  echo "Inline events (\`--events\`) took $(awk -v a="$cold" -v b="$with" 'BEGIN{ printf "%.0f", 100 * (b - a) / b }') % of the cold run's wall time (medians of $(wc -l <"$dir/pairs") pairs of runs: $cold s without, $with s with; each pair: $(tr '\n' ';' <"$dir/pairs" | sed 's/;$//; s/;/, /g'))."
  echo
  echo "cold: every file new; cold_events: the same bytes into another bucket with --events; idle: nothing new (one listing and the checkpoint read, no"
  echo "download); incremental: after 10% more traffic (the active file read from 4 KiB before"
  echo "its shipped offset, the overlap checked against the checkpoint's tail hash, the rest"
  echo "shipped; files it rotated into read whole)."
} >"$dir/e2e.md"
# BENCHMARKS.md is edited by hand from this section and side_by_side.sh's.
cat "$dir/e2e.md"
