#!/usr/bin/env bash
# Daily backup of a chat database: restic and Haven on the same generated data set.
#
# For each variant (with and without the FTS5 index) the script generates a chat data
# set, backs it up with restic and with Haven, applies one day of activity, backs it up
# again, and prints the bytes written to each repository, wall time and peak memory
# (from /usr/bin/time -v), the bytes written to a second pair of repositories that
# hold the message database alone, and the page-level floor: the changed pages of the message
# database, each compressed with zstd -3 (bench/page-floor.py).
#
# Needs: restic, sqlite3, zstd, GNU time (/usr/bin/time), python3, a Rust toolchain.
# Usage: bench/chat-daily.sh [WORKDIR]      (SIZE=200MB by default; KEEP=1 keeps WORKDIR)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-200MB}
WORK=${1:-$(mktemp -d /tmp/haven-chat-daily.XXXXXX)}
mkdir -p "$WORK"
DAY_ARGS=(--messages 1000 --status-updates 200 --deletions 20 --new-media 5)

for tool in restic sqlite3 zstd python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y restic sqlite3 zstd python3" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 1; }

(cd "$ROOT" && cargo build --release -q -p haven-cli -p haven-chatgen)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# Copies, so a concurrent build cannot replace the binaries during the run.
cp "$TARGET/release/haven" "$TARGET/release/haven-chatgen" "$WORK/"
HAVEN=$WORK/haven
CHATGEN=$WORK/haven-chatgen
export RESTIC_PASSWORD=benchmark-password-not-secret

# Runs a command under /usr/bin/time -v; prints "seconds peak_kib" to stdout.
measure() {
    local log=$WORK/time.log
    /usr/bin/time -v -o "$log" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || {
        echo "command failed: $*" >&2
        cat "$WORK/cmd.err" >&2
        exit 1
    }
    python3 - "$log" <<'PY'
import sys
wall = rss = None
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("Elapsed (wall clock) time"):
        parts = [float(p) for p in line.rsplit(" ", 1)[1].split(":")]
        wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    elif line.startswith("Maximum resident set size"):
        rss = int(line.rsplit(" ", 1)[1])
print(f"{wall:.2f} {rss}")
PY
}

# Sum of the sizes of the files in a repository folder.
repo_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# Copies a database page for page with SQLite's backup API.
copy_db() { python3 -c 'import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' "$1" "$2"; }

ROWS=()
run_variant() {
    local variant=$1; shift
    local dir=$WORK/$variant
    rm -rf "$dir"
    mkdir -p "$dir"
    "$CHATGEN" generate --out "$dir/data" --size "$SIZE" --seed 1 "$@" >/dev/null
    local db=$dir/data/databases/msgstore.db
    copy_db "$db" "$dir/before.db"

    "$HAVEN" init --repo "$dir/haven-repo" --key-file "$dir/haven.key" >/dev/null
    # A second Haven repository holds the message database alone, to compare with the page floor.
    "$HAVEN" init --repo "$dir/haven-db-repo" --key-file "$dir/haven-db.key" >/dev/null
    restic init --repo "$dir/restic-repo" -q >/dev/null
    restic init --repo "$dir/restic-db-repo" -q >/dev/null

    # This benchmark measures page-level backups against the page floor; the row
    # increments that Haven stores by default are measured by bench/chat-rows.sh.
    local h0 r0 h1 r1 h2 r2
    h0=$(repo_bytes "$dir/haven-repo"); r0=$(repo_bytes "$dir/restic-repo")
    read -r hs1 hm1 < <(measure "$HAVEN" backup --no-row-increments --repo "$dir/haven-repo" --key-file "$dir/haven.key" "$dir/data")
    read -r rs1 rm1 < <(measure restic backup --repo "$dir/restic-repo" -q "$dir/data")
    h1=$(repo_bytes "$dir/haven-repo"); r1=$(repo_bytes "$dir/restic-repo")
    "$HAVEN" backup --no-row-increments --repo "$dir/haven-db-repo" --key-file "$dir/haven-db.key" "$dir/data/databases" >/dev/null
    restic backup --repo "$dir/restic-db-repo" -q "$dir/data/databases" >/dev/null
    local d1 e1
    d1=$(repo_bytes "$dir/haven-db-repo"); e1=$(repo_bytes "$dir/restic-db-repo")

    "$CHATGEN" day --dir "$dir/data" --seed 2 "${DAY_ARGS[@]}" >/dev/null
    copy_db "$db" "$dir/after.db"

    read -r hs2 hm2 < <(measure "$HAVEN" backup --no-row-increments --repo "$dir/haven-repo" --key-file "$dir/haven.key" "$dir/data")
    read -r rs2 rm2 < <(measure restic backup --repo "$dir/restic-repo" -q "$dir/data")
    h2=$(repo_bytes "$dir/haven-repo"); r2=$(repo_bytes "$dir/restic-repo")
    "$HAVEN" backup --no-row-increments --repo "$dir/haven-db-repo" --key-file "$dir/haven-db.key" "$dir/data/databases" >/dev/null
    restic backup --repo "$dir/restic-db-repo" -q "$dir/data/databases" >/dev/null
    local d2 e2
    d2=$(repo_bytes "$dir/haven-db-repo"); e2=$(repo_bytes "$dir/restic-db-repo")

    python3 "$ROOT/bench/page-floor.py" "$dir/before.db" "$dir/after.db" --json >"$dir/floor.json"
    python3 "$ROOT/bench/page-floor.py" "$dir/before.db" "$dir/after.db" >"$dir/floor.txt"
    local media_new
    media_new=$(python3 - "$dir" <<'PY'
import json, os, sys
# Bytes of media files that the day added: files newer than the first backup's copy.
d = sys.argv[1]
ref = os.path.getmtime(os.path.join(d, "before.db"))
total = 0
for root, _, files in os.walk(os.path.join(d, "data", "media")):
    for f in files:
        p = os.path.join(root, f)
        if os.path.getmtime(p) > ref:
            total += os.path.getsize(p)
print(total)
PY
)
    local db_bytes
    db_bytes=$(stat -c %s "$dir/after.db")
    ROWS+=("$variant $db_bytes $((h1 - h0)) $((r1 - r0)) $((h2 - h1)) $((r2 - r1)) $hs1 $rs1 $hs2 $rs2 $hm1 $rm1 $hm2 $rm2 $media_new $((d2 - d1)) $((e2 - e1)) $dir/floor.json")
}

run_variant fts
run_variant no-fts --no-fts

python3 - "$SIZE" "${ROWS[@]}" <<'PY'
import json, sys
size = sys.argv[1]
mb = lambda b: f"{b / 1e6:.2f} MB"
for row in sys.argv[2:]:
    (variant, db, h1, r1, h2, r2, hs1, rs1, hs2, rs2, hm1, rm1, hm2, rm2, media, db_daily,
     restic_db_daily, floor_json) = row.split()
    floor = json.load(open(floor_json))
    h1, r1, h2, r2, hm1, rm1, hm2, rm2, media, db, db_daily, restic_db_daily = map(
        int, (h1, r1, h2, r2, hm1, rm1, hm2, rm2, media, db, db_daily, restic_db_daily)
    )
    page_floor = floor["floor_bytes"]
    total_floor = page_floor + media
    print(f"\n## {variant}: data set {size}, message database {mb(db)}")
    print("| | restic | Haven | Haven / restic |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| first backup, bytes written | {mb(r1)} | {mb(h1)} | {h1 / r1:.2f} |")
    print(f"| daily backup, bytes written | {mb(r2)} | {mb(h2)} | {h2 / r2:.3f} |")
    print(f"| first backup, wall time | {rs1} s | {hs1} s | |")
    print(f"| daily backup, wall time | {rs2} s | {hs2} s | |")
    print(f"| first backup, peak memory | {rm1 / 1024:.0f} MiB | {hm1 / 1024:.0f} MiB | |")
    print(f"| daily backup, peak memory | {rm2 / 1024:.0f} MiB | {hm2 / 1024:.0f} MiB | |")
    print()
    print(f"changed pages: {floor['changed_pages']} of {floor['pages_after']} ({floor['page_size']} bytes each)")
    print(f"page floor (changed pages, zstd -3 each): {mb(page_floor)}")
    print(f"new media files: {mb(media)}")
    print(f"floor with new media: {mb(total_floor)}")
    print(f"Haven daily, message database alone: {mb(db_daily)}")
    print(f"Haven daily database alone / page floor: {db_daily / page_floor:.2f}")
    print(f"Haven daily / floor with new media: {h2 / total_floor:.2f}")
    print(f"Haven daily / restic daily: {h2 / r2:.3f}")
    print(f"restic daily, message database alone: {mb(restic_db_daily)}")
    print(f"Haven / restic daily, message database alone: {db_daily / restic_db_daily:.3f}")
    print("changed pages by table or index: " + ", ".join(f"{n} {k}" for k, n in floor["by_owner"].items()))
PY
if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
