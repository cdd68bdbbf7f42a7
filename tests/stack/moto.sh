#!/usr/bin/env bash
# Starts moto's S3 server on a free loopback port and prints its URL.
#   moto.sh start PIDFILE   → prints http://127.0.0.1:PORT
#   moto.sh stop PIDFILE
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cmd=${1:?usage: moto.sh start|stop PIDFILE}; pidfile=${2:?PIDFILE}
case "$cmd" in
start)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  setsid "$root/.stack/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$pidfile.log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "http://127.0.0.1:$port"; exit 0; }
    sleep 0.1
  done
  echo "moto did not start; see $pidfile.log" >&2; exit 1 ;;
stop)
  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true ;;
esac
