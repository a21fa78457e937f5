#!/usr/bin/env bash
# Installs the storage servers that the backend tests start on 127.0.0.1:
#   s3s-fs 0.14.1  S3 server with signature checks (cargo install into ~/.cargo/bin)
#   rclone         `rclone serve webdav` (Debian package)
# Each test starts and stops its own server processes; this script only installs.
# Safe to run again: it skips what is already installed.
set -euo pipefail

S3S_VERSION=0.14.1

if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi

if ! command -v rclone >/dev/null 2>&1; then
    echo "installing rclone (Debian package)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rclone >/dev/null
fi

s3s_bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
if [[ ! -x $s3s_bin ]] || ! "$s3s_bin" --version 2>/dev/null | grep -q "$S3S_VERSION"; then
    echo "installing s3s-fs $S3S_VERSION (cargo build; about 6 CPU-minutes)"
    # A separate target dir keeps this build from locking the workspace's.
    CARGO_TARGET_DIR="${TMPDIR:-/tmp}/s3s-fs-build" \
        cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --quiet
fi

echo "rclone: $(rclone version 2>/dev/null | head -n 1)"
echo "s3s-fs: $("$s3s_bin" --version)"
