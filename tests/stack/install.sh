#!/usr/bin/env bash
# Installs what the local stack needs, and only what is missing:
#   - MariaDB server and client from Debian (the server_audit plugin ships with it)
#   - moto's S3 server and DuckDB from PyPI, in a venv under .stack/
# Safe to run again; CI runs it on a clean machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.stack/venv"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v mariadbd >/dev/null 2>&1 || ! command -v mariadb-install-db >/dev/null 2>&1 || ! command -v pkill >/dev/null 2>&1; then
  echo "install: MariaDB and procps from Debian packages" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client procps >/dev/null
fi
plugin_dir=$(mariadbd --no-defaults --verbose --help 2>/dev/null | awk '$1=="plugin-dir"{print $2}')
[ -f "${plugin_dir:-/usr/lib/mysql/plugin}/server_audit.so" ] || {
  echo "install: server_audit.so not found in ${plugin_dir:-?}; the mariadb-server package should ship it" >&2; exit 1; }

if [ ! -x "$venv/bin/moto_server" ]; then
  echo "install: moto[server] from PyPI into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]>=5.1,<6'
fi
# DuckDB reads the derived events' Parquet back in the tests: a reader
# that is not the writer (one wheel, no dependencies).
if ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  echo "install: duckdb from PyPI into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'duckdb>=1.1,<3'
fi
