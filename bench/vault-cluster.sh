#!/usr/bin/env bash
# Vault cluster recoveries: throughput and latency of 1-, 3- and 5-node clusters.
#
# For each cluster size the script provisions the nodes as the cluster tests do: one
# `vault init`, `copy-secrets` to the other nodes and one cluster key. It starts every
# node as a release-build `haven vault serve --node-id` process on 127.0.0.1 with
# durable commits (the default) and runs `cluster init`. Then it runs
# haven-vault-bench against all nodes' URLs at each concurrency. It prints one table row per run, with the Raft
# log entries the leader appended per recovery, the CPU time all node processes used
# per recovery and, where perf can count syscall tracepoints, the leader's fsync plus
# fdatasync calls per log entry. One redb commit with Durability::Immediate makes
# one fdatasync (redb 5.0.0 without two-phase commit). The leader commits three redb
# transactions per batch of entries (the log append, the committed log id and the
# apply), so 3 syncs per entry means no batching and less means batching. Every
# process it starts is stopped on exit.
#
# The nodes run with --ksf-version 0 (the test Argon2id parameters), which only
# makes the bench's client-side enrollments cheap: the client caches its Argon2id
# output, and the server never runs the KSF. Rate limits are off (0), because every
# bench client comes from 127.0.0.1.
#
# Usage: bench/vault-cluster.sh [WORKDIR]
#   SIZES="1 3 5"  CONCURRENCY="8 64"  SECONDS_PER_RUN=15  KEEP=1 keeps WORKDIR
#   BIN_DIR=DIR uses DIR/haven and DIR/haven-vault-bench instead of building
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-1 3 5}
CONCURRENCY=${CONCURRENCY:-8 64}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
WORK=${1:-$(mktemp -d /tmp/haven-vault-cluster.XXXXXX)}
mkdir -p "$WORK"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# Other builds may replace target/release binaries during a run, so the run uses
# copies in WORKDIR. BIN_DIR names a folder with release builds of `haven` and
# `haven-vault-bench` to use instead of building them.
if [ -z "${BIN_DIR:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p haven-cli -p haven-vault-bench)
    BIN_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
fi
cp "$BIN_DIR/haven" "$BIN_DIR/haven-vault-bench" "$WORK/"
HAVEN=$WORK/haven
BENCH=$WORK/haven-vault-bench

# Prints a TCP port between 20000 and 29999 that nothing on 127.0.0.1 accepts on.
free_port() {
    local port
    while true; do
        port=$((20000 + RANDOM % 10000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Prints field NAME of `cluster status --json` from the node at raft URL $1.
status_field() {
    "$HAVEN" vault cluster status --json --node "$1" --cluster-key "$DIR/cluster.key" 2>/dev/null |
        python3 -c "import json,sys; v=json.load(sys.stdin).get('$2'); print('' if v is None else v)" ||
        true
}

# Starts an N-node cluster in $DIR; sets API_URLS and RAFT_URLS.
start_cluster() {
    local n=$1 id peers="" api_port raft_port
    DIR=$WORK/cluster-$n
    mkdir -p "$DIR"
    API_URLS=()
    RAFT_URLS=()
    for id in $(seq 1 "$n"); do
        api_port=$(free_port)
        raft_port=$(free_port)
        API_URLS+=("http://127.0.0.1:$api_port")
        RAFT_URLS+=("http://127.0.0.1:$raft_port")
        peers+="${peers:+,}$id=http://127.0.0.1:$raft_port"
        mkdir -p "$DIR/node-$id"
    done

    "$HAVEN" vault init --vault-id vault.bench --data "$DIR/node-1/data" \
        --kek-file "$DIR/node-1/kek.key" >/dev/null
    "$HAVEN" vault tenant-key --tenant bench --key-out "$DIR/tenant.key" \
        --tenants "$DIR/tenants.json" >/dev/null
    "$HAVEN" vault cluster new-key --out "$DIR/cluster.key" >/dev/null
    for id in $(seq 2 "$n"); do
        "$HAVEN" vault cluster copy-secrets --from-data "$DIR/node-1/data" \
            --from-kek-file "$DIR/node-1/kek.key" --data "$DIR/node-$id/data" \
            --kek-file "$DIR/node-$id/kek.key" >/dev/null
    done

    for id in $(seq 1 "$n"); do
        HAVEN_LOG=info,openraft=warn "$HAVEN" vault serve \
            --allow-insecure-test-ksf --ksf-version 0 \
            --account-rate 0 --address-rate 0 \
            --listen "${API_URLS[$((id - 1))]#http://}" \
            --node-id "$id" --raft-listen "${RAFT_URLS[$((id - 1))]#http://}" \
            --peers "$peers" --cluster-key "$DIR/cluster.key" \
            --data "$DIR/node-$id/data" --kek-file "$DIR/node-$id/kek.key" \
            --tenants "$DIR/tenants.json" \
            >"$DIR/node-$id/stdout.log" 2>"$DIR/node-$id/server.log" &
        PIDS+=($!)
    done

    for id in $(seq 1 "$n"); do
        for _ in $(seq 1 100); do
            grep -q "^listening on" "$DIR/node-$id/stdout.log" && break
            sleep 0.1
        done
        grep -q "^listening on" "$DIR/node-$id/stdout.log" || {
            echo "node $id did not start; log:" >&2
            cat "$DIR/node-$id/server.log" >&2
            exit 1
        }
    done

    "$HAVEN" vault cluster init --node "${RAFT_URLS[0]}" --cluster-key "$DIR/cluster.key" >/dev/null
    for _ in $(seq 1 200); do
        [ -n "$(status_field "${RAFT_URLS[0]}" leader)" ] && return
        sleep 0.1
    done
    echo "the $n-node cluster elected no leader within 20 s" >&2
    exit 1
}

# Stops the processes of the current cluster.
stop_cluster() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

# Prints the last log index of the current leader.
leader_last_index() {
    status_field "${RAFT_URLS[$((LEADER - 1))]}" last_log_index
}

# Prints the CPU time (user plus system, in clock ticks) that the node processes used.
node_cpu_ticks() {
    local pid total=0
    for pid in "${PIDS[@]}"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

# Starts counting the leader's fsync and fdatasync calls with perf (tracepoint
# counts, no per-call tracing) into $1; sets PERF_PID, or leaves it empty without
# perf.
count_syncs() {
    PERF_PID=""
    if perf stat -e syscalls:sys_enter_fdatasync -- true >/dev/null 2>&1; then
        perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync \
            -p "${PIDS[$((LEADER - 1))]}" -o "$1" &
        PERF_PID=$!
    fi
}

ROWS=()
for n in $SIZES; do
    start_cluster "$n"
    for c in $CONCURRENCY; do
        url_args=()
        for url in "${API_URLS[@]}"; do
            url_args+=(--url "$url")
        done
        accounts=$((c > 64 ? c : 64))
        log=$DIR/bench-c$c.log
        "$BENCH" run "${url_args[@]}" --tenant bench --tenant-key "$DIR/tenant.key" \
            --accounts "$accounts" --concurrency "$c" --seconds 1 \
            --account-prefix "warm-c$c-" >/dev/null
        LEADER=$(status_field "${RAFT_URLS[0]}" leader)
        before=$(leader_last_index)
        load_before=$(cut -d' ' -f1 /proc/loadavg)
        cpu_before=$(node_cpu_ticks)
        count_syncs "$DIR/syncs-c$c.csv"
        "$BENCH" run "${url_args[@]}" --tenant bench --tenant-key "$DIR/tenant.key" \
            --accounts "$accounts" --concurrency "$c" --seconds "$SECONDS_PER_RUN" \
            --account-prefix "bench-c$c-" | tee "$log"
        if [ -n "$PERF_PID" ]; then
            kill -INT "$PERF_PID" 2>/dev/null || true
            wait "$PERF_PID" || true
        fi
        cpu_after=$(node_cpu_ticks)
        after=$(leader_last_index)
        load_after=$(cut -d' ' -f1 /proc/loadavg)
        ROWS+=("$(python3 - "$log" "$n" "$c" "$before" "$after" "$load_before" "$load_after" "$accounts" "$DIR/syncs-c$c.csv" "$((cpu_after - cpu_before))" "$(getconf CLK_TCK)" <<'PY'
import os, re, sys
log, n, c, before, after, load_before, load_after, accounts, syncs_file, ticks, hz = sys.argv[1:]
text = open(log).read()
ok, failed = re.search(r"recoveries: (\d+) ok, (\d+) failed", text).groups()
retries = re.search(r"retries: (\d+)", text).group(1)
rate, p50, p99 = re.search(r"throughput: (\d+) recoveries/s; latency p50 ([\d.]+) ms, p99 ([\d.]+) ms", text).groups()
# The enrollments of the measured run also append one Enroll entry per account.
entries = int(after) - int(before) - int(accounts)
per = entries / int(ok) if int(ok) else float("nan")
# perf -x, lines: count,unit,event,... The syncs and the CPU time include the
# enrollments' share, which is small: one entry and no login per account.
syncs = "n/a"
if os.path.exists(syncs_file):
    counts = [line.split(",")[0] for line in open(syncs_file) if "syscalls:" in line]
    total = sum(int(x) for x in counts if x.isdigit())
    syncs = f"{total / (int(after) - int(before)):.2f}"
cpu_ms = int(ticks) * 1000 / int(hz) / int(ok) if int(ok) else float("nan")
print(f"| {n} | {c} | {rate} | {p50} | {p99} | {failed} | {retries} | {per:.2f} | {syncs} | {cpu_ms:.1f} | {load_before} / {load_after} |")
PY
)")
    done
    stop_cluster
done

echo
echo "| nodes | clients | recoveries/s | p50 ms | p99 ms | failed | retries | log entries per recovery | leader syncs per log entry | node CPU ms per recovery | load average (1 min) before / after |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${ROWS[@]}"
