#!/usr/bin/env bash
# Starts or stops a throwaway MariaDB server with the server_audit plugin,
# on loopback, in its own directory. Its audit files are real: written and
# rotated by the plugin itself.
#
#   mariadb.sh start DIR PORT SERVER_ID [PRIMARY_PORT]
#   mariadb.sh stop DIR
#
# With PRIMARY_PORT the server replicates from the primary on that port.
# ROTATE_SIZE and ROTATIONS set server_audit_file_rotate_size / _rotations.
set -euo pipefail

cmd=${1:?usage: mariadb.sh start DIR PORT SERVER_ID [PRIMARY_PORT] | stop DIR}
dir=$(realpath -m "${2:?DIR}")
sock="$dir/mysqld.sock"
client() { mariadb --no-defaults -S "$sock" -uroot "$@"; }

case "$cmd" in
start)
  port=${3:?PORT}; server_id=${4:?SERVER_ID}; primary=${5:-}
  mkdir -p "$dir/data" "$dir/audit"
  cat >"$dir/my.cnf" <<CNF
[mariadbd]
user=root
datadir=$dir/data
socket=$sock
pid-file=$dir/mysqld.pid
log-error=$dir/error.log
port=$port
bind-address=127.0.0.1
skip-name-resolve
server-id=$server_id
log-bin=$dir/data/binlog
report-host=127.0.0.1
report-port=$port
plugin-load-add=server_audit
server_audit_logging=ON
server_audit_events=CONNECT,QUERY
server_audit_output_type=file
server_audit_file_path=$dir/audit/server_audit.log
server_audit_file_rotate_size=${ROTATE_SIZE:-100000}
server_audit_file_rotations=${ROTATIONS:-5}
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
performance_schema=OFF
CNF
  mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1
  setsid mariadbd --defaults-file="$dir/my.cnf" >>"$dir/error.log" 2>&1 < /dev/null &
  for _ in $(seq 1 100); do
    mariadb-admin --no-defaults -S "$sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb-admin --no-defaults -S "$sock" -uroot ping >/dev/null 2>&1 || {
    echo "mariadb on port $port did not start; see $dir/error.log" >&2; tail -20 "$dir/error.log" >&2; exit 1; }
  if [ -z "$primary" ]; then
    client <<SQL
CREATE USER app@'127.0.0.1' IDENTIFIED BY 'app-pass';
GRANT ALL ON *.* TO app@'127.0.0.1';
CREATE USER repl@'127.0.0.1' IDENTIFIED BY 'repl-pass';
GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1';
CREATE DATABASE shop;
CREATE TABLE shop.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(4000));
SQL
  else
    # Replicate everything from the primary's first binlog, users included.
    client <<SQL
SET GLOBAL gtid_slave_pos = '';
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$primary, MASTER_USER='repl',
  MASTER_PASSWORD='repl-pass', MASTER_USE_GTID=slave_pos;
START SLAVE;
SQL
    for _ in $(seq 1 100); do
      [ "$(client -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='shop' AND table_name='t'")" = 1 ] && break
      sleep 0.1
    done
    [ "$(client -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='shop' AND table_name='t'")" = 1 ] || {
      echo "replica on port $port did not catch up with the primary on $primary" >&2; client -e 'SHOW SLAVE STATUS\G' >&2; exit 1; }
  fi
  ;;
stop)
  if [ -S "$sock" ]; then
    mariadb-admin --no-defaults -S "$sock" -uroot shutdown >/dev/null 2>&1 || true
  fi
  # Whatever is left (no socket, a stuck shutdown): the server started with
  # this directory's config, found by its command line.
  for _ in $(seq 1 50); do pgrep -f -- "--defaults-file=$dir/my.cnf" >/dev/null || break; sleep 0.1; done
  pkill -9 -f -- "--defaults-file=$dir/my.cnf" 2>/dev/null || true
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
