#!/usr/bin/env bash
# Longer job: runs the test suites of the crates with FFI under AddressSanitizer.
# haven-repo calls SQLite (rusqlite, bundled C), haven-vault-kek calls PKCS#11 modules
# (cryptoki, with SoftHSM2 in the tests), and the vault's end-to-end tests in
# haven-cli start `haven vault serve` with both. ASan reports out-of-bounds accesses,
# use after free and double free in Rust and in the C code compiled by the build
# (SQLite); system libraries such as SoftHSM2 are not instrumented.
#
# Needs the packages that .ci/run installs (softhsm2, sqlite3). Builds go to
# target/asan (a full build: about 15 minutes on 2 cores, an estimate).
# Usage: scripts/sanitizers.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# -Zsanitizer is a nightly flag; RUSTC_BOOTSTRAP=1 enables it on the stable compiler.
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address -Cdebuginfo=1"
export RUSTDOCFLAGS="-Zsanitizer=address"
export CARGO_TARGET_DIR="${ASAN_TARGET_DIR:-$PWD/target/asan}"
# Leak detection is off, so the job reports memory errors only. NOTE: leaks were not
# triaged; process-wide state that is freed only at exit would show up as leaks.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1"
# An explicit --target keeps the sanitizer flags away from build scripts and
# procedural macros, which the compiler loads into itself.
target=x86_64-unknown-linux-gnu

cargo test --locked --target "$target" \
    -p haven-repo -p haven-vault-kek -p haven-vault-server \
    "$@"
cargo test --locked --target "$target" -p haven-cli \
    --test vault_kek --test vault_lifecycle --test vault_auth --test vault_malformed \
    --test repo_cli --test chat_backup --test vault_cluster \
    "$@"
