#!/usr/bin/env bash
# Supply-chain checks: cargo-deny (advisories, licences, bans, sources; policy in
# deny.toml) and cargo-audit (RustSec advisories for Cargo.lock).
#
# Installs both tools at pinned versions with `cargo install --locked` when the
# installed version differs (about 7 and 15 minutes of compiling on a busy 2-core
# machine); cargo-audit only once the advisory database could be fetched.
#
# The advisory checks need the RustSec advisory database, which both tools clone from
# GitHub. Where that host is unreachable, HAVEN_ADVISORIES decides:
#   require        fail the run (use this wherever GitHub is reachable)
#   if-reachable   print a warning and skip the advisory checks (the default)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
CARGO_AUDIT_VERSION=0.22.2
advisories=${HAVEN_ADVISORIES:-if-reachable}

install_pinned() {
    local crate=$1 version=$2 installed
    installed=$(cargo "${crate#cargo-}" --version 2>/dev/null | awk '{print $2}' || true)
    if [[ "$installed" != "$version" ]]; then
        echo "installing $crate $version (found: ${installed:-none})"
        cargo install --locked --quiet "$crate@$version"
    fi
}

install_pinned cargo-deny "$CARGO_DENY_VERSION"

echo "== cargo deny check bans licenses sources"
cargo deny --color never check bans licenses sources

echo "== advisory database"
if cargo deny --color never fetch db; then
    echo "== cargo deny check advisories"
    cargo deny --color never check advisories
    # cargo-audit is installed only here: without the database it has nothing to
    # check, and its build takes several minutes.
    install_pinned cargo-audit "$CARGO_AUDIT_VERSION"
    echo "== cargo audit"
    cargo audit --deny warnings
elif [[ "$advisories" == "require" ]]; then
    echo "error: the RustSec advisory database could not be fetched and HAVEN_ADVISORIES=require" >&2
    exit 1
else
    echo "warning: the RustSec advisory database could not be fetched (see the error above);" \
        "cargo deny check advisories and cargo audit were NOT run." \
        "Set HAVEN_ADVISORIES=require where GitHub is reachable." >&2
fi
