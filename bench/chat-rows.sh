#!/usr/bin/env bash
# Daily backups of a chat database as row increments: Haven and restic on the same
# generated message database, one backup a day for DAYS days.
#
# The script generates a chat data set with an FTS5 index. Every simulated day it
# backs up the databases folder into three repositories: Haven with a state folder
# (row increments after the first base), Haven with --no-row-increments (changed
# pages), and restic. It prints the bytes each backup added to its
# repository, the time Haven spent computing the row changes, and the size of the
# local row state. At the end it times a restore of the last day from both Haven
# repositories: base plus DAYS increments, and the page-level snapshot.
#
# Needs: restic, GNU time (/usr/bin/time), python3, a Rust toolchain.
# Usage: bench/chat-rows.sh [WORKDIR]   (SIZE=50MB and DAYS=30 by default; KEEP=1 keeps WORKDIR)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-50MB}
DAYS=${DAYS:-30}
WORK=${1:-$(mktemp -d /tmp/haven-chat-rows.XXXXXX)}
mkdir -p "$WORK"
DAY_ARGS=(--messages 1000 --status-updates 200 --deletions 20 --new-media 0)

for tool in restic python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y restic python3" >&2; exit 1; }
done

(cd "$ROOT" && cargo build --release -q -p haven-cli -p haven-chatgen)
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# Copies, so a concurrent build cannot replace the binaries during the run.
cp "$TARGET/release/haven" "$TARGET/release/haven-chatgen" "$WORK/"
HAVEN=$WORK/haven
CHATGEN=$WORK/haven-chatgen
export RESTIC_PASSWORD=benchmark-password-not-secret

repo_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
seconds() { python3 -c 'import time; print(f"{time.monotonic():.3f}")'; }

DATA=$WORK/data
rm -rf "$DATA" "$WORK"/rows-repo "$WORK"/pages-repo "$WORK"/restic-repo "$WORK"/state "$WORK"/restored-*
"$CHATGEN" generate --out "$DATA" --size "$SIZE" --seed 1 >/dev/null
"$HAVEN" init --repo "$WORK/rows-repo" --key-file "$WORK/rows.key" >/dev/null
"$HAVEN" init --repo "$WORK/pages-repo" --key-file "$WORK/pages.key" >/dev/null
restic init --repo "$WORK/restic-repo" -q >/dev/null

ROWS_ARGS=(--repo "$WORK/rows-repo" --key-file "$WORK/rows.key")
PAGES_ARGS=(--repo "$WORK/pages-repo" --key-file "$WORK/pages.key")
LOG=$WORK/days.tsv
printf 'day\trows_bytes\tpages_bytes\trestic_bytes\tdiff_seconds\tbackup_seconds\tstate_bytes\tkind\n' >"$LOG"

backup_day() {
    local day=$1 h0 p0 r0 h1 p1 r1 start end
    h0=$(repo_bytes "$WORK/rows-repo"); p0=$(repo_bytes "$WORK/pages-repo"); r0=$(repo_bytes "$WORK/restic-repo")
    start=$(seconds)
    "$HAVEN" backup "${ROWS_ARGS[@]}" --state-dir "$WORK/state" --json "$DATA/databases" >"$WORK/rows.json"
    end=$(seconds)
    "$HAVEN" backup "${PAGES_ARGS[@]}" --no-row-increments "$DATA/databases" >/dev/null
    restic backup --repo "$WORK/restic-repo" -q "$DATA/databases" >/dev/null
    h1=$(repo_bytes "$WORK/rows-repo"); p1=$(repo_bytes "$WORK/pages-repo"); r1=$(repo_bytes "$WORK/restic-repo")
    python3 - "$day" "$((h1 - h0))" "$((p1 - p0))" "$((r1 - r0))" "$start" "$end" "$(repo_bytes "$WORK/state")" "$WORK/rows.json" >>"$LOG" <<'PY'
import json, sys
day, rows, pages, restic, start, end, state, summary = sys.argv[1:]
s = json.load(open(summary))
kind = "increment" if s["sqlite_increments"] else "base"
elapsed = float(end) - float(start)
print(f"{day}\t{rows}\t{pages}\t{restic}\t{s['sqlite_diff_seconds']:.3f}\t{elapsed:.3f}\t{state}\t{kind}")
PY
}

backup_day 0
for day in $(seq 1 "$DAYS"); do
    "$CHATGEN" day --dir "$DATA" --seed "$((day + 1))" "${DAY_ARGS[@]}" >/dev/null
    backup_day "$day"
done

# Restores of the last day: base plus DAYS increments, and the page-level snapshot.
start=$(seconds)
"$HAVEN" restore "${ROWS_ARGS[@]}" latest --target "$WORK/restored-rows" >/dev/null
end=$(seconds)
rows_restore=$(python3 -c "print(f'{$end - $start:.2f}')")
start=$(seconds)
"$HAVEN" restore "${PAGES_ARGS[@]}" latest --target "$WORK/restored-pages" >/dev/null
end=$(seconds)
pages_restore=$(python3 -c "print(f'{$end - $start:.2f}')")
db_bytes=$(stat -c %s "$DATA/databases/msgstore.db")

python3 - "$LOG" "$SIZE" "$DAYS" "$db_bytes" "$rows_restore" "$pages_restore" <<'PY'
import csv, sys
log, size, days, db_bytes, rows_restore, pages_restore = sys.argv[1:]
rows = list(csv.DictReader(open(log), delimiter="\t"))
mb = lambda b: f"{b / 1e6:.3f} MB"
print(f"\n## data set {size}, {days} days, message database {mb(int(db_bytes))} after the last day")
print("| day | kind | Haven rows | Haven pages | restic | rows / restic | diff time | backup time | local state |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    ratio = int(r["rows_bytes"]) / int(r["restic_bytes"]) if int(r["restic_bytes"]) else 0
    print(f"| {r['day']} | {r['kind']} | {mb(int(r['rows_bytes']))} | {mb(int(r['pages_bytes']))} | "
          f"{mb(int(r['restic_bytes']))} | {ratio:.4f} | {r['diff_seconds']} s | {r['backup_seconds']} s | "
          f"{mb(int(r['state_bytes']))} |")
daily = [r for r in rows if r["day"] != "0"]
total = lambda key: sum(int(r[key]) for r in daily)
print()
print(f"days 1-{days}, bytes written: Haven rows {mb(total('rows_bytes'))}, Haven pages "
      f"{mb(total('pages_bytes'))}, restic {mb(total('restic_bytes'))}; "
      f"rows / restic {total('rows_bytes') / total('restic_bytes'):.4f}")
print(f"restore of day {days}: base + increments {rows_restore} s, page-level {pages_restore} s")
PY
if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
