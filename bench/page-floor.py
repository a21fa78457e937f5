#!/usr/bin/env python3
"""Measure the pages of a SQLite database that changed between two copies.

Usage: page-floor.py BEFORE.db AFTER.db [--json]

Both files must be page-preserving copies (cp of a database at rest, or SQLite's
backup API; never VACUUM INTO). A page counts as changed when its bytes differ or it
exists only in AFTER. The floor is the sum over changed pages of the smaller of the
page and its zstd level 3 compression (each page compressed on its own, as Haven
stores each page as one chunk). The changed pages are attributed to tables and indexes
with SQLite's dbstat virtual table on AFTER.
"""

import collections
import json
import os
import sqlite3
import subprocess
import sys
import tempfile


def page_size(path):
    with open(path, "rb") as f:
        head = f.read(18)
    raw = int.from_bytes(head[16:18], "big")
    return 65536 if raw == 1 else raw


def changed_pages(before, after, size):
    """Return the 1-based numbers of the pages of AFTER that differ from BEFORE."""
    changed = []
    with open(before, "rb") as b, open(after, "rb") as a:
        number = 0
        while True:
            new = a.read(size)
            if not new:
                break
            number += 1
            if b.read(size) != new:
                changed.append(number)
    return changed


def compressed_sizes(after, pages, size):
    """Return {page number: zstd -3 size} using the zstd command-line tool."""
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp, open(after, "rb") as a:
        names = []
        for number in pages:
            a.seek((number - 1) * size)
            name = os.path.join(tmp, f"{number}")
            with open(name, "wb") as out:
                out.write(a.read(size))
            names.append(name)
        for start in range(0, len(names), 500):
            batch = names[start : start + 500]
            subprocess.run(["zstd", "-3", "-q", "-f", "--no-check", *batch], check=True)
        for number, name in zip(pages, names):
            sizes[number] = os.path.getsize(name + ".zst")
    return sizes


def owners(after, pages):
    """Return {page number: table or index name} from dbstat; free pages are '(free)'."""
    wanted = set(pages)
    found = {}
    conn = sqlite3.connect(f"file:{after}?mode=ro", uri=True)
    for name, pageno in conn.execute("SELECT name, pageno FROM dbstat"):
        if pageno in wanted:
            found[pageno] = name
    conn.close()
    return {p: found.get(p, "(free or pointer map)") for p in pages}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit("usage: page-floor.py BEFORE.db AFTER.db [--json]")
    before, after = args
    size = page_size(after)
    if page_size(before) != size:
        sys.exit(f"page sizes differ: {before} has {page_size(before)}, {after} has {size}")
    pages = changed_pages(before, after, size)
    sizes = compressed_sizes(after, pages, size)
    floor = sum(min(sizes[p], size) for p in pages)
    by_owner = collections.Counter(owners(after, pages).values())
    result = {
        "page_size": size,
        "pages_before": os.path.getsize(before) // size,
        "pages_after": os.path.getsize(after) // size,
        "changed_pages": len(pages),
        "changed_bytes": len(pages) * size,
        "floor_bytes": floor,
        "by_owner": dict(by_owner.most_common()),
    }
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
        return
    for key in ("page_size", "pages_before", "pages_after", "changed_pages", "changed_bytes", "floor_bytes"):
        print(f"{key}: {result[key]}")
    print("changed pages by table or index:")
    for name, count in by_owner.most_common():
        print(f"  {count:6d}  {name}")


if __name__ == "__main__":
    main()
