#!/usr/bin/env bash
# Short fuzz pass: builds every cargo-fuzz target in fuzz/ and runs each for a fixed
# time, starting from its committed corpus. Fails if any target crashes, and saves
# the crashing input as fuzz/regressions/<target>/crash-<sha1> (replayed afterwards
# by `cargo test -p haven-fuzzing`). New corpus entries go to a temporary folder, so
# the committed corpus does not change.
#
# Usage: scripts/fuzz-ci.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 20; FUZZ_PARALLEL targets run at once (default 2)
#   FUZZ_TARGET_DIR     build folder (default fuzz/target)
#   FUZZ_SANITIZER      none (default) or address
# The build uses stable Rust with RUSTC_BOOTSTRAP=1, since cargo-fuzz needs
# nightly-only flags, and has debug assertions and overflow checks on. A panic aborts
# the target either way. The default builds without AddressSanitizer to fit the CI
# time budget: apart from safe Rust, the only code the targets reach is zstd's C
# decoder (no SQLite or PKCS#11 calls). FUZZ_SANITIZER=address checks that too.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-20}
shift || true
parallel=${FUZZ_PARALLEL:-2}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1
# The build goes to FUZZ_TARGET_DIR (default fuzz/target), and a folder that survives
# between runs saves the full rebuild. The caller's CARGO_TARGET_DIR is not used,
# because sanitizer builds must not mix with the main workspace's builds.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

installed=$(cargo fuzz --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$installed" != "$CARGO_FUZZ_VERSION" ]]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION (found: ${installed:-none})"
    cargo install --locked --quiet "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets"
start=$(date +%s)
(cd fuzz && cargo fuzz build -O --debug-assertions --sanitizer "$sanitizer")
echo "build took $(($(date +%s) - start)) s"
bin_dir="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

# Prints the dictionary file for a target, if it has one.
dictionary_of() {
    case "$1" in
        repo_*_plain | repo_slot_body | repo_tree | repo_config) echo fuzz/dict/repo_cbor.dict ;;
        vault_request) echo fuzz/dict/vault_json.dict ;;
        jwt_*) echo fuzz/dict/jwt.dict ;;
        crypt15_header) echo fuzz/dict/crypt15.dict ;;
    esac
}

logs="$(mktemp -d -t haven-fuzz.XXXXXX)"
trap 'rm -rf "$logs"' EXIT

# Runs one target; its log goes to $logs/<target>.log and its status to .status.
run_target() {
    local target=$1 work dict args=()
    work="$logs/$target.corpus"
    mkdir -p "$work" "fuzz/regressions/$target"
    dict=$(dictionary_of "$target")
    [[ -n "$dict" ]] && args+=("-dict=$dict")
    local status=0
    "$bin_dir/$target" "$work" "fuzz/corpus/$target" "${args[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="fuzz/regressions/$target/" \
        >"$logs/$target.log" 2>&1 || status=$?
    echo "$status" >"$logs/$target.status"
}

echo "== running each target for $seconds s, $parallel at a time"
start=$(date +%s)
running=0
for target in "${targets[@]}"; do
    run_target "$target" &
    running=$((running + 1))
    if ((running >= parallel)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
echo "fuzzing took $(($(date +%s) - start)) s"

failed=()
printf '%-22s %12s %8s  %s\n' target executions exec/s result
for target in "${targets[@]}"; do
    status=$(cat "$logs/$target.status")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$target.log" | tail -1)
    result=ok
    if [[ "$status" != 0 ]]; then
        result="FAILED (exit $status)"
        failed+=("$target")
    fi
    printf '%-22s %12s %8s  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$result"
done

for target in "${failed[@]}"; do
    echo
    echo "== $target: last lines of the libFuzzer output"
    grep -v '^#' "$logs/$target.log" | tail -40
    echo "saved input: $(ls -t "fuzz/regressions/$target" | head -1)"
done
if ((${#failed[@]} > 0)); then
    echo "fuzzing found ${#failed[@]} failing target(s): ${failed[*]}" >&2
    exit 1
fi
