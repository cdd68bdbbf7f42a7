#!/usr/bin/env sh
# Builds the static auditship binary for one container architecture, on
# any build machine: natively or across (amd64 -> arm64 and back), with
# no emulation. The Dockerfile's build stage runs this on the build
# platform, and tests/deploy-checks/check.sh runs it in CI for both
# architectures, so the container's build is the one CI proves.
#
#   deploy/build-static.sh amd64|arm64 release|dev OUT
#
# The target is Rust's musl target for the architecture (a static binary
# for a scratch image). aws-lc, the TLS crypto, is C: zig (from PyPI's
# ziglang, pinned here) is its cross C compiler and linker for every
# target, through cargo-zigbuild (crates.io, pinned here).
set -eu

arch=${1:?architecture: amd64 or arm64}
profile=${2:?profile: release or dev}
out=${3:?output path}
case "$arch" in
    amd64 | x86_64) target=x86_64-unknown-linux-musl ;;
    arm64 | aarch64) target=aarch64-unknown-linux-musl ;;
    *) echo "build-static: unknown architecture '$arch': use amd64 or arm64" >&2; exit 2 ;;
esac
case "$profile" in
    release) dir=release ;;
    dev) dir=debug ;;
    *) echo "build-static: unknown profile '$profile': use release or dev" >&2; exit 2 ;;
esac

ziglang_version=0.17.1
zigbuild_version=0.24.1
tools=${AUDITSHIP_BUILD_TOOLS:-"$(pwd)/.stack/build-tools"}

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
if ! "$tools/venv/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ziglang_version"; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "ziglang==$ziglang_version"
fi
if ! "$tools/bin/cargo-zigbuild" --version 2>/dev/null | grep -q " $zigbuild_version\$"; then
    cargo install -q --locked --root "$tools" "cargo-zigbuild@$zigbuild_version"
fi
# cargo-zigbuild runs `python3 -m ziglang` when no `zig` is on PATH: the
# venv's python3 comes first.
PATH="$tools/venv/bin:$tools/bin:$PATH" \
    cargo zigbuild --locked --profile "$profile" --target "$target" --bin auditship

bin="target/$target/$dir/auditship"
# A static binary has no program interpreter (no dynamic loader).
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    echo "build-static: $bin is dynamically linked; a scratch image cannot run it" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
cp "$bin" "$out"
echo "build-static: $out ($target, $profile, static)"
