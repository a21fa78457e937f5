//! Daily backups of a database as row increments, restored day by day.

mod common;
mod rows_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{new_repo, TestRepo};
use haven_repo::{BaseReason, NodeKind, ObjectId, ParentChoice, PruneOptions, RetentionPolicy};
use rows_support::{
    base_reason, create_database, dump, mutate_day, restore_database, rows_options, Rng,
};

struct Day {
    snapshot: ObjectId,
    rows: BTreeMap<String, Vec<String>>,
}

struct Setup {
    t: TestRepo,
    data: PathBuf,
    db: PathBuf,
    state: PathBuf,
    rng: Rng,
}

fn setup(t: TestRepo, seed: u64) -> Setup {
    let data = t.dir.path().join("app");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("chat.db");
    create_database(&db);
    let state = t.dir.path().join("state");
    Setup {
        data,
        db,
        state,
        rng: Rng::new(seed),
        t,
    }
}

impl Setup {
    /// Mutates the database for one day, backs it up and returns the day's record
    /// with the base reason (`None` for an increment).
    async fn day(&mut self) -> (Day, Option<BaseReason>) {
        mutate_day(&self.db, &mut self.rng);
        self.backup().await
    }

    async fn backup(&mut self) -> (Day, Option<BaseReason>) {
        let result = self
            .t
            .repo
            .backup(std::slice::from_ref(&self.data), rows_options(&self.state))
            .await
            .unwrap();
        assert!(result.problems.is_empty(), "{:?}", result.problems);
        let reason = base_reason(&result);
        let day = Day {
            snapshot: result.snapshot_id,
            rows: dump(&self.db),
        };
        (day, reason)
    }

    /// Restores `day` and compares every row with what the database held that day.
    async fn assert_restores(&self, number: usize, day: &Day) {
        let target = tempfile::tempdir_in(self.t.dir.path()).unwrap();
        let restored = restore_database(&self.t.repo, &day.snapshot, target.path(), "app/chat.db")
            .await
            .unwrap_or_else(|damaged| panic!("day {number} is damaged: {damaged:?}"));
        assert_eq!(integrity_check(&restored), "ok", "day {number}");
        let rows = dump(&restored);
        for (table, expected) in &day.rows {
            assert_eq!(
                rows.get(table),
                Some(expected),
                "day {number}, table {table}"
            );
        }
        assert_eq!(rows.len(), day.rows.len(), "day {number}: tables differ");
    }
}

fn integrity_check(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_days_restore_identical() {
    let mut s = setup(new_repo().await, 1);
    let mut days = Vec::new();
    for number in 1..=30 {
        let (day, reason) = s.day().await;
        if number == 1 {
            assert_eq!(reason, Some(BaseReason::NoState), "day 1 is a base");
        } else {
            assert_eq!(reason, None, "day {number} is an increment");
        }
        days.push(day);
    }
    let entries =
        s.t.repo
            .list_snapshot(&days[29].snapshot, Path::new("app/chat.db"))
            .await
            .unwrap();
    assert_eq!(entries[0].node.kind, NodeKind::SqliteRows);
    assert_eq!(entries[0].node.row_increments.len(), 29);
    for (index, day) in days.iter().enumerate() {
        s.assert_restores(index + 1, day).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_migration_takes_base() {
    let mut s = setup(new_repo().await, 2);
    let mut days = Vec::new();
    for number in 1..=14 {
        if number == 10 {
            let conn = rusqlite::Connection::open(&s.db).unwrap();
            conn.execute_batch(
                "ALTER TABLE plain ADD COLUMN rating INTEGER DEFAULT 3;
                 CREATE TABLE labels(id INTEGER PRIMARY KEY, label TEXT);
                 INSERT INTO labels(label) VALUES ('one'), ('two');",
            )
            .unwrap();
        }
        if number > 10 {
            let conn = rusqlite::Connection::open(&s.db).unwrap();
            conn.execute(
                "INSERT INTO labels(label) VALUES (?1)",
                [format!("day {number}")],
            )
            .unwrap();
            conn.execute("UPDATE plain SET rating = ?1 WHERE id % 5 = 0", [number])
                .unwrap();
        }
        let (day, reason) = s.day().await;
        let expected = match number {
            1 => Some(BaseReason::NoState),
            10 => Some(BaseReason::SchemaChanged),
            _ => None,
        };
        assert_eq!(reason, expected, "day {number}");
        days.push(day);
    }
    for (index, day) in days.iter().enumerate() {
        s.assert_restores(index + 1, day).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_state_takes_base() {
    let mut s = setup(new_repo().await, 3);
    let mut days = Vec::new();
    days.push(s.day().await.0);
    let damages: [(&str, DamageState, BaseReason); 3] = [
        (
            "deleted",
            |p| std::fs::remove_file(p).unwrap(),
            BaseReason::NoState,
        ),
        (
            "truncated",
            |p| {
                let len = std::fs::metadata(p).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            },
            BaseReason::StateDamaged,
        ),
        (
            "edited",
            |p| {
                let mut bytes = std::fs::read(p).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
                std::fs::write(p, bytes).unwrap();
            },
            BaseReason::StateDamaged,
        ),
    ];
    for (what, damage, expected) in damages {
        let (day, reason) = s.day().await;
        assert_eq!(
            reason, None,
            "the day before the state is {what} is an increment"
        );
        days.push(day);
        damage(&state_file(&s.state));
        let (day, reason) = s.day().await;
        assert_eq!(reason, Some(expected), "state {what}");
        days.push(day);
    }
    let (day, reason) = s.day().await;
    assert_eq!(reason, None, "the day after a new base is an increment");
    days.push(day);
    for (index, day) in days.iter().enumerate() {
        s.assert_restores(index + 1, day).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_parent_takes_base() {
    let mut s = setup(new_repo().await, 4);
    let (first, _) = s.day().await;
    let (_, reason) = s.day().await;
    assert_eq!(reason, None);
    mutate_day(&s.db, &mut s.rng);
    let options = haven_repo::BackupOptions {
        parent: ParentChoice::Snapshot(first.snapshot),
        ..rows_options(&s.state)
    };
    let result =
        s.t.repo
            .backup(std::slice::from_ref(&s.data), options)
            .await
            .unwrap();
    assert_eq!(base_reason(&result), Some(BaseReason::ChainMismatch));
    let day = Day {
        snapshot: result.snapshot_id,
        rows: dump(&s.db),
    };
    s.assert_restores(3, &day).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_increment_names_snapshot() {
    let mut s = setup(new_repo().await, 5);
    let mut days = Vec::new();
    for _ in 1..=6 {
        days.push(s.day().await.0);
    }
    // Day 4's node ends in its own increment, the third of the chain.
    let entries =
        s.t.repo
            .list_snapshot(&days[3].snapshot, Path::new("app/chat.db"))
            .await
            .unwrap();
    let increment = *entries[0].node.row_increments.last().unwrap();
    let (pack, offset, length) = haven_repo::testing::blob_location(&s.t.repo, &increment).unwrap();
    let pack_path = s.t.repo_path().join(pack);
    let mut bytes = std::fs::read(&pack_path).unwrap();
    bytes[(offset + length / 2) as usize] ^= 0x40;
    std::fs::write(&pack_path, bytes).unwrap();
    let repo = s.t.reopen().await;

    for (index, day) in days.iter().enumerate().take(3) {
        let target = tempfile::tempdir_in(s.t.dir.path()).unwrap();
        let restored = restore_database(&repo, &day.snapshot, target.path(), "app/chat.db")
            .await
            .unwrap();
        assert_eq!(dump(&restored), day.rows, "day {}", index + 1);
    }
    for day in &days[3..] {
        let target = tempfile::tempdir_in(s.t.dir.path()).unwrap();
        let damaged = restore_database(&repo, &day.snapshot, target.path(), "app/chat.db")
            .await
            .unwrap_err();
        assert_eq!(damaged.len(), 1, "{damaged:?}");
        let object = &damaged[0].objects[0];
        assert!(object.contains("row increment 3 of"), "{object}");
        assert!(object.contains(&increment.short()), "{object}");
        assert!(
            object.contains(&format!("snapshot {}", day.snapshot.short())),
            "{object}"
        );
        assert!(
            !target.path().join("app/chat.db").exists(),
            "a damaged database is not put in place"
        );
    }
}

/// The base's pages are written on the thread that applies the increments. A damaged
/// page is reported for the database, which is not put in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_base_page_names_the_blob() {
    let mut s = setup(new_repo().await, 7);
    let mut days = Vec::new();
    for _ in 1..=3 {
        days.push(s.day().await.0);
    }
    let entries =
        s.t.repo
            .list_snapshot(&days[2].snapshot, Path::new("app/chat.db"))
            .await
            .unwrap();
    let node = &entries[0].node;
    assert!(!node.row_increments.is_empty(), "day 3 is a row increment");
    let page = *node.content.last().unwrap();
    let (pack, offset, length) = haven_repo::testing::blob_location(&s.t.repo, &page).unwrap();
    let pack_path = s.t.repo_path().join(pack);
    let mut bytes = std::fs::read(&pack_path).unwrap();
    bytes[(offset + length / 2) as usize] ^= 0x40;
    std::fs::write(&pack_path, bytes).unwrap();
    let repo = s.t.reopen().await;

    let target = tempfile::tempdir_in(s.t.dir.path()).unwrap();
    let damaged = restore_database(&repo, &days[2].snapshot, target.path(), "app/chat.db")
        .await
        .unwrap_err();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    let object = &damaged[0].objects[0];
    assert!(object.contains(&page.short()), "{object}");
    assert!(
        !target.path().join("app/chat.db").exists(),
        "a damaged database is not put in place"
    );
    let leftovers: Vec<_> = std::fs::read_dir(target.path().join("app"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_later_chains() {
    let mut s = setup(new_repo().await, 6);
    let mut days = Vec::new();
    for _ in 1..=8 {
        days.push(s.day().await.0);
    }
    let policy = RetentionPolicy {
        keep_last: 2,
        ..RetentionPolicy::default()
    };
    let forgotten = s.t.repo.forget(&policy, false).await.unwrap();
    assert_eq!(forgotten.removed, 6);
    let prune = PruneOptions {
        grace: std::time::Duration::ZERO,
        ..PruneOptions::default()
    };
    // The first run marks unused packs, the second deletes them.
    s.t.repo.prune(&prune).await.unwrap();
    s.t.repo.prune(&prune).await.unwrap();
    let repo = s.t.reopen().await;
    for (index, day) in days.iter().enumerate().skip(6) {
        let target = tempfile::tempdir_in(s.t.dir.path()).unwrap();
        let restored = restore_database(&repo, &day.snapshot, target.path(), "app/chat.db")
            .await
            .unwrap_or_else(|damaged| {
                panic!("day {} is damaged after prune: {damaged:?}", index + 1)
            });
        assert_eq!(dump(&restored), day.rows, "day {}", index + 1);
    }
    let report = repo
        .check(haven_repo::CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    // The next backup still extends the chain.
    s.t.repo = repo;
    let (day, reason) = s.day().await;
    assert_eq!(reason, None);
    s.assert_restores(9, &day).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_limits_take_base() {
    let mut s = setup(new_repo().await, 7);
    let mut options = rows_options(&s.state);
    options.sqlite.max_increments = 2;
    let mut reasons = Vec::new();
    let mut days = Vec::new();
    for _ in 1..=5 {
        mutate_day(&s.db, &mut s.rng);
        let result =
            s.t.repo
                .backup(std::slice::from_ref(&s.data), options.clone())
                .await
                .unwrap();
        reasons.push(base_reason(&result));
        days.push(Day {
            snapshot: result.snapshot_id,
            rows: dump(&s.db),
        });
    }
    let expected = [
        Some(BaseReason::NoState),
        None,
        None,
        Some(BaseReason::ChainLength),
        None,
    ];
    assert_eq!(reasons, expected);

    options.sqlite.max_chain_age = std::time::Duration::ZERO;
    mutate_day(&s.db, &mut s.rng);
    let result =
        s.t.repo
            .backup(std::slice::from_ref(&s.data), options.clone())
            .await
            .unwrap();
    assert_eq!(base_reason(&result), Some(BaseReason::ChainAge));
    for (index, day) in days.iter().enumerate() {
        s.assert_restores(index + 1, day).await;
    }
}

/// Damages the state file at the given path.
type DamageState = fn(&Path);

/// Returns the only state file in the state folder.
fn state_file(state: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(state.join("sqlite-rows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}
