#!/usr/bin/env bash
# Haven against restic, rustic and borg on the same data, on the same machine, in one
# run. Scenarios:
#   1. first backup of a generated app data folder (message database plus media)
#   2. backup after one day of activity
#   3. first backup of many small files
#   4. full restore of (1) and of (3)
#   5. check --read-data of (1)
# Each scenario runs RUNS times with the tools alternating inside each run, and the
# script prints the median wall time, CPU time (user + system), peak memory and bytes
# written. It also measures the machine's own limits (ChaCha20-Poly1305 with openssl,
# BLAKE3, zstd -3, sequential disk read) and Haven's raw backup throughput on
# incompressible data as a share of the lowest of them.
#
# Needs: restic, borgbackup, zstd, GNU time, openssl, python3 (apt-get install -y restic
# borgbackup zstd time openssl python3-venv) and a Rust toolchain. rustic is built once
# with `cargo install rustic-rs --locked` into BENCH_CACHE (about 9 minutes on 2 cores);
# RUSTIC=0 leaves it out.
#
# Usage: bench/compare.sh [WORKDIR]
#   SIZE=1GB     size of the app data folder (database 40 %, media 60 %)
#   FILES=100000 number of small files (1 to 8 KiB of text each)
#   RUNS=3       runs per scenario
#   RAW_MB=500   megabytes of incompressible data for the raw throughput
#   RAW_RUNS=7   timed runs of the raw throughput backup
#   BENCH_CACHE  folder for the rustic build and the Python venv (~/.cache/haven-bench)
#   KEEP=1       keep WORKDIR (with FRESH_FS=1, not the restored files)
#   FRESH_FS=0   restore into folders of WORKDIR's filesystem instead of new ones
#
# As root, each restore writes into a new ext4 filesystem, as a restore on a new device
# would. The filesystem is a file of WORKDIR (twice the larger data set plus 1 GiB) on
# a loop device with direct I/O, deleted after the measurement. That needs losetup,
# mount and mkfs.ext4 (util-linux, mount and e2fsprogs, in every Debian).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-1GB}
FILES=${FILES:-100000}
RUNS=${RUNS:-3}
RAW_RUNS=${RAW_RUNS:-7}
RAW_MB=${RAW_MB:-500}
RUSTIC=${RUSTIC:-1}
RUSTIC_VERSION=0.11.4
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/haven-bench}
WORK=${1:-$(mktemp -d /tmp/haven-compare.XXXXXX)}
mkdir -p "$WORK" "$BENCH_CACHE"
FRESH_FS=${FRESH_FS:-$([[ $EUID == 0 ]] && echo 1 || echo 0)}

# Unmounts the filesystem made for a restore target, frees its loop device (also after
# a failed mount) and deletes the target with its image.
drop_target() {
    local dir=$1
    if mountpoint -q "$dir"; then
        umount "$dir"
    fi
    if [[ -e $dir.img ]]; then
        losetup -j "$dir.img" -O NAME -n | xargs -r losetup -d
    fi
    rm -rf "$dir" "$dir.img"
}

# Creates an empty restore target: a new ext4 filesystem mounted there when FRESH_FS=1.
# On a used filesystem, ext4 without a journal skips each inode freed in the last 60 s
# (longer while its inode table block is unwritten) when it picks one for a new file
# (recently_deleted in fs/ext4/ialloc.c). Haven's restore of 100,000 small files then
# took 4 to 34 s, depending on what had been deleted before it.
fresh_target() {
    local dir=$1 loop
    drop_target "$dir"
    mkdir -p "$dir"
    [[ $FRESH_FS == 1 ]] || return 0
    truncate -s "$FS_BYTES" "$dir.img"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dir.img"
    loop=$(losetup -f --show --direct-io=on "$dir.img")
    mount "$loop" "$dir"
}

# Deletes a restore target after its measurement when it has its own filesystem. On
# the shared filesystem the targets stay until the next run, which waits for their
# inodes to age first.
done_target() {
    if [[ $FRESH_FS == 1 ]]; then
        drop_target "$1"
    fi
}

cleanup() {
    local image
    for image in "$WORK"/restore-*.img; do
        if [[ -e $image ]]; then
            drop_target "${image%.img}"
        fi
    done
    [[ "${KEEP:-0}" == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
if [[ $FRESH_FS == 1 ]]; then
    echo "restores write into new ext4 filesystems on loop devices"
else
    echo "restores write into folders of $WORK's filesystem (FRESH_FS=0)"
fi

for tool in restic borg zstd openssl python3; do
    command -v "$tool" >/dev/null || {
        echo "missing $tool: apt-get install -y restic borgbackup zstd time openssl python3-venv" >&2
        exit 1
    }
done
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 1; }
if [[ $FRESH_FS == 1 ]]; then
    for tool in losetup mkfs.ext4 mount umount mountpoint; do
        command -v "$tool" >/dev/null || {
            echo "missing $tool: apt-get install -y util-linux mount e2fsprogs, or set FRESH_FS=0" >&2
            exit 1
        }
    done
fi

echo "== building Haven (release)"
(cd "$ROOT" && cargo build --release -q --locked -p haven-cli -p haven-chatgen)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# Copies, so a concurrent build cannot replace the binaries during the run.
cp "$TARGET/release/haven" "$TARGET/release/haven-chatgen" "$WORK/"
HAVEN=$WORK/haven
CHATGEN=$WORK/haven-chatgen

TOOLS=(haven restic borg)
if [[ "$RUSTIC" == 1 ]]; then
    if [[ ! -x "$BENCH_CACHE/bin/rustic" ]]; then
        echo "== building rustic $RUSTIC_VERSION (cached in $BENCH_CACHE)"
        cargo install --locked --quiet --root "$BENCH_CACHE" "rustic-rs@$RUSTIC_VERSION"
    fi
    RUSTIC_BIN=$BENCH_CACHE/bin/rustic
    TOOLS+=(rustic)
fi

# Test passwords for the benchmark repositories; they protect nothing.
export RESTIC_PASSWORD=benchmark-password
export RUSTIC_PASSWORD=benchmark-password
export BORG_PASSPHRASE=benchmark-password
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR=$WORK/borg-home RUSTIC_CACHE_DIR=$WORK/rustic-cache

# Runs a command under GNU time; prints "wall_s cpu_s peak_kib". The sync first writes
# out earlier files and deletions, so that one tool's leftovers do not slow the next.
measure() {
    local log=$WORK/time.log
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$log" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || {
        echo "command failed: $*" >&2
        tail -20 "$WORK/cmd.err" >&2
        exit 1
    }
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$log"
}

# Drops a repository's files from the page cache. Every tool's restore and check then
# read the repository from disk, as on a new device. Haven writes large objects with
# O_DIRECT, around the cache, and the other tools through it.
evict() {
    sync
    python3 - "$1" <<'PY'
import os, sys
for folder, _, files in os.walk(sys.argv[1]):
    for name in files:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
PY
}

repo_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# Creates an empty repository for a tool.
init_repo() {
    local tool=$1 repo=$2
    rm -rf "$repo" "$repo.key" "$repo.state"
    case $tool in
        haven) "$HAVEN" init --repo "$repo" --key-file "$repo.key" >/dev/null ;;
        restic) restic init --repo "$repo" -q >/dev/null ;;
        rustic) "$RUSTIC_BIN" init -r "$repo" >/dev/null 2>&1 ;;
        borg) borg init --encryption=repokey-blake2 "$repo" >/dev/null 2>&1 ;;
    esac
}

# The commands of each scenario, per tool.
backup_cmd() {
    local tool=$1 repo=$2 source=$3 name=$4
    case $tool in
        haven) echo "$HAVEN" backup --repo "$repo" --key-file "$repo.key" --state-dir "$repo.state" "$source" ;;
        restic) echo restic backup --repo "$repo" -q "$source" ;;
        rustic) echo "$RUSTIC_BIN" backup -r "$repo" "$source" ;;
        borg) echo borg create --compression zstd,3 "$repo::$name" "$source" ;;
    esac
}

restore_cmd() {
    local tool=$1 repo=$2 target=$3 name=$4
    case $tool in
        haven) echo "$HAVEN" restore --repo "$repo" --key-file "$repo.key" latest --target "$target" ;;
        restic) echo restic restore --repo "$repo" -q latest --target "$target" ;;
        rustic) echo "$RUSTIC_BIN" restore -r "$repo" latest "$target" ;;
        # borg extracts into the working folder; run_in changes into the target.
        borg) echo borg extract "$repo::$name" ;;
    esac
}

check_cmd() {
    local tool=$1 repo=$2
    case $tool in
        haven) echo "$HAVEN" check --repo "$repo" --key-file "$repo.key" --read-data ;;
        restic) echo restic check --repo "$repo" -q --read-data ;;
        rustic) echo "$RUSTIC_BIN" check -r "$repo" --read-data ;;
        borg) echo borg check --verify-data "$repo" ;;
    esac
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

echo "== data sets"
"$CHATGEN" generate --out "$WORK/app" --size "$SIZE" --seed 1 >/dev/null
python3 - "$WORK/small" "$FILES" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))))
         for _ in range(5000)]
for i in range(count):
    folder = os.path.join(root, f"d{i // 1000:03d}")
    os.makedirs(folder, exist_ok=True)
    size = rng.randint(1024, 8192)
    text, length = [], 0
    while length < size:
        word = rng.choice(words)
        text.append(word)
        length += len(word) + 1
    with open(os.path.join(folder, f"f{i:06d}.txt"), "w") as f:
        f.write(" ".join(text)[:size])
PY
echo "app data: $(du -sh "$WORK/app" | cut -f1), small files: $FILES ($(du -sh "$WORK/small" | cut -f1))"
app_bytes=$(du -s --block-size=1 "$WORK/app" | cut -f1)
small_bytes=$(du -s --block-size=1 "$WORK/small" | cut -f1)
FS_BYTES=$(( (app_bytes > small_bytes ? app_bytes : small_bytes) * 2 + (1 << 30) ))

for run in $(seq 1 "$RUNS"); do
    echo "== run $run of $RUNS"
    # Each run starts with the next tool, so no tool always runs first.
    shift_by=$(( (run - 1) % ${#TOOLS[@]} ))
    ORDER=("${TOOLS[@]:shift_by}" "${TOOLS[@]:0:shift_by}")
    # A fresh copy of the app data, so every run's day of activity starts alike.
    rm -rf "$WORK/app-run" "$WORK"/repo-small-*
    cp -a "$WORK/app" "$WORK/app-run"
    if [[ $FRESH_FS == 0 ]]; then
        # The last run's restores go now, and their inodes age here (see fresh_target).
        rm -rf "$WORK"/restore-*
        sync && sleep 61
    fi
    for tool in "${ORDER[@]}"; do
        repo=$WORK/repo-$tool
        init_repo "$tool" "$repo"
        before=$(repo_bytes "$repo")
        measured=$(measure $(backup_cmd "$tool" "$repo" "$WORK/app-run" first))
        record "1 first backup" "$tool" "$measured $(( $(repo_bytes "$repo") - before ))"
    done
    "$CHATGEN" day --dir "$WORK/app-run" --seed "$run" >/dev/null
    for tool in "${ORDER[@]}"; do
        repo=$WORK/repo-$tool
        before=$(repo_bytes "$repo")
        measured=$(measure $(backup_cmd "$tool" "$repo" "$WORK/app-run" day))
        record "2 daily backup" "$tool" "$measured $(( $(repo_bytes "$repo") - before ))"
    done
    for tool in "${ORDER[@]}"; do
        repo=$WORK/repo-$tool
        target=$WORK/restore-app-$tool
        fresh_target "$target"
        evict "$repo"
        measured=$(cd "$target" && measure $(restore_cmd "$tool" "$repo" "$target" day))
        record "4a restore app data" "$tool" "$measured 0"
        done_target "$target"
        evict "$repo"
        measured=$(measure $(check_cmd "$tool" "$repo"))
        record "5 check --read-data" "$tool" "$measured 0"
    done
    for tool in "${ORDER[@]}"; do
        repo=$WORK/repo-small-$tool
        init_repo "$tool" "$repo"
        before=$(repo_bytes "$repo")
        measured=$(measure $(backup_cmd "$tool" "$repo" "$WORK/small" small))
        record "3 small files backup" "$tool" "$measured $(( $(repo_bytes "$repo") - before ))"
        target=$WORK/restore-small-$tool
        fresh_target "$target"
        evict "$repo"
        measured=$(cd "$target" && measure $(restore_cmd "$tool" "$repo" "$target" small))
        record "4b restore small files" "$tool" "$measured 0"
        done_target "$target"
    done
done

echo "== machine limits"
LIMITS=$WORK/limits.txt
python3 -m venv "$BENCH_CACHE/venv" >/dev/null 2>&1 || true
"$BENCH_CACHE/venv/bin/pip" install -q blake3==1.0.8 matplotlib==3.9.4 >/dev/null
head -c 200000000 /dev/urandom >"$WORK/random.bin"
# openssl has no XChaCha20-Poly1305; ChaCha20-Poly1305 does the same work per byte.
aead=$(openssl speed -evp chacha20-poly1305 -seconds 2 -bytes 16384 2>/dev/null |
    awk 'tolower($1) == "chacha20-poly1305" {print $NF}' | sed 's/k$//')
echo "aead_mb_s $(awk -v k="$aead" 'BEGIN {printf "%.0f", k * 1000 / 1e6}')" >"$LIMITS"
"$BENCH_CACHE/venv/bin/python" - "$WORK/random.bin" >>"$LIMITS" <<'PY'
import sys, time, blake3
data = open(sys.argv[1], "rb").read()
start = time.perf_counter()
blake3.blake3(data, max_threads=1).digest()
print(f"blake3_mb_s {len(data) / (time.perf_counter() - start) / 1e6:.0f}")
PY
# zstd -b prints progress with carriage returns; the last line's first MB/s is the
# compression speed.
zstd_speed=$(zstd -b3 -i3 "$WORK/app/databases/msgstore.db" 2>&1 | tr '\r' '\n' |
    grep 'MB/s' | tail -1 | sed -n 's/.*), *\([0-9.]*\) MB\/s.*/\1/p')
echo "zstd3_mb_s ${zstd_speed:-0}" >>"$LIMITS"
sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
disk=$(dd if="$WORK/random.bin" of=/dev/null bs=1M 2>&1 | awk '/copied/ {print $(NF-1), $NF}')
echo "disk_read $disk" >>"$LIMITS"
mkdir -p "$WORK/raw" && head -c "$((RAW_MB * 1000000))" /dev/urandom >"$WORK/raw/media.bin"
# A backup takes about half a second here, so one untimed run comes first and the
# median is taken over RAW_RUNS.
for run in $(seq 0 "$RAW_RUNS"); do
    init_repo haven "$WORK/repo-raw"
    raw=$(measure "$HAVEN" backup --repo "$WORK/repo-raw" --key-file "$WORK/repo-raw.key" \
        --state-dir "$WORK/repo-raw.state" "$WORK/raw")
    if ((run > 0)); then
        echo "haven_raw $raw $(stat -c %s "$WORK/raw/media.bin")" >>"$LIMITS"
    fi
done

echo "== results (median of $RUNS runs)"
"$BENCH_CACHE/venv/bin/python" "$ROOT/bench/compare_report.py" "$RESULTS" "$LIMITS" "$WORK/compare.png"
cp "$WORK/compare.png" "$ROOT/docs/benchmark-compare.png" && echo "plot: docs/benchmark-compare.png"
