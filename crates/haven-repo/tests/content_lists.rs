//! Content lists of large files: full lists, deltas against the previous snapshot's
//! list, depth limits, prune and damage.

mod common;
mod sqlite_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{new_repo, quiet_options, random_bytes, TestRepo};
use haven_repo::testing::{self, MAX_DELTA_DEPTH, MAX_INLINE_IDS};
use haven_repo::{
    BlobType, CheckOptions, Node, ObjectId, PruneOptions, RepoError, RestoreOptions,
    RetentionPolicy,
};
use sqlite_support::{integrity_check, page_hashes, restore_into};

const PAGE_SIZE: usize = 512;
/// About one row per 512-byte page, so the database has well over
/// [`MAX_INLINE_IDS`] pages.
const ROWS: u64 = 1800;

/// Header fields that the consistent copy rewrites: the file change counter, the
/// schema cookie, and the version-valid-for number and SQLite version.
const COMMIT_FIELDS: [std::ops::Range<usize>; 3] = [24..28, 40..44, 92..100];

fn create_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = DELETE; \
         CREATE TABLE m (id INTEGER PRIMARY KEY, body BLOB);"
    ))
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..ROWS {
        tx.execute(
            "INSERT INTO m (id, body) VALUES (?1, ?2)",
            rusqlite::params![i, random_bytes(i, 300)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Rewrites the bodies of a few rows, which changes a few pages.
fn change_rows(path: &Path, seed: u64, ids: &[u64]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for id in ids {
        conn.execute(
            "UPDATE m SET body = ?1 WHERE id = ?2",
            rusqlite::params![random_bytes(seed * 10_000 + id, 300), id],
        )
        .unwrap();
    }
}

/// Asserts that `restored` has the pages of `expected` (a copy of the source taken
/// at backup time), apart from the commit fields of the header.
fn assert_same_pages(expected: &[u8], restored: &Path) {
    let restored_bytes = std::fs::read(restored).unwrap();
    assert_eq!(restored_bytes.len(), expected.len(), "file sizes differ");
    let mut expected = expected.to_vec();
    let mut restored_bytes = restored_bytes;
    for range in COMMIT_FIELDS {
        expected[range.clone()].fill(0);
        restored_bytes[range].fill(0);
    }
    for (number, (a, b)) in expected
        .chunks(PAGE_SIZE)
        .zip(restored_bytes.chunks(PAGE_SIZE))
        .enumerate()
    {
        assert!(a == b, "page {} differs", number + 1);
    }
}

struct Fixture {
    t: TestRepo,
    source: PathBuf,
    db: PathBuf,
}

async fn fixture() -> Fixture {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let db = source.join("chat.db");
    create_database(&db);
    let pages = page_hashes(&db, PAGE_SIZE).len();
    assert!(pages > MAX_INLINE_IDS, "only {pages} pages");
    Fixture { t, source, db }
}

impl Fixture {
    async fn backup(&self) -> ObjectId {
        let result = self
            .t
            .repo
            .backup(std::slice::from_ref(&self.source), quiet_options())
            .await
            .unwrap();
        assert!(result.problems.is_empty(), "{:?}", result.problems);
        result.snapshot_id
    }

    async fn db_node(&self, snapshot: &ObjectId) -> Node {
        let entries = self
            .t
            .repo
            .list_snapshot(snapshot, Path::new("source/chat.db"))
            .await
            .unwrap();
        entries.into_iter().next().unwrap().node
    }

    async fn list_of(&self, snapshot: &ObjectId) -> ObjectId {
        let node = self.db_node(snapshot).await;
        assert!(node.content.is_empty(), "the node lists its ids inline");
        node.content_list.expect("no content list")
    }
}

async fn assert_check_clean(repo: &haven_repo::Repository) {
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_backup_writes_delta() {
    let f = fixture().await;
    let first = f.backup().await;
    let first_bytes = std::fs::read(&f.db).unwrap();
    let first_list = f.list_of(&first).await;
    let full = testing::content_list_info(&f.t.repo, &first_list)
        .await
        .unwrap();
    assert!(!full.is_delta);
    assert_eq!(full.depth, 0);

    change_rows(&f.db, 1, &[10, 500, 1200]);
    let second = f.backup().await;
    let second_bytes = std::fs::read(&f.db).unwrap();
    let second_list = f.list_of(&second).await;
    let delta = testing::content_list_info(&f.t.repo, &second_list)
        .await
        .unwrap();
    assert!(delta.is_delta);
    assert_eq!(delta.depth, 1);
    assert!(
        delta.plaintext_bytes * 20 < full.plaintext_bytes,
        "delta list {} bytes, full list {} bytes",
        delta.plaintext_bytes,
        full.plaintext_bytes
    );

    let dir = f.t.dir.path();
    let restored = restore_into(&f.t.repo, &first, &dir.join("first")).await;
    let restored_db = restored.join("source/chat.db");
    assert_eq!(integrity_check(&restored_db), "ok");
    assert_same_pages(&first_bytes, &restored_db);
    let restored = restore_into(&f.t.repo, &second, &dir.join("second")).await;
    let restored_db = restored.join("source/chat.db");
    assert_eq!(integrity_check(&restored_db), "ok");
    assert_same_pages(&second_bytes, &restored_db);

    let report =
        f.t.repo
            .check(CheckOptions { read_data: true })
            .await
            .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.content_lists, 2);

    // An unchanged file reuses the previous node's list.
    let third = f.backup().await;
    assert_eq!(f.list_of(&third).await, second_list);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_at_max_depth_writes_full_list() {
    let f = fixture().await;
    f.backup().await;
    for depth in 1..=MAX_DELTA_DEPTH {
        change_rows(&f.db, depth as u64, &[depth as u64 * 7]);
        let snapshot = f.backup().await;
        let list = f.list_of(&snapshot).await;
        let info = testing::content_list_info(&f.t.repo, &list).await.unwrap();
        assert!(info.is_delta, "backup {depth} wrote a full list");
        assert_eq!(info.depth, depth);
    }
    change_rows(&f.db, 999, &[3]);
    let last = f.backup().await;
    let last_bytes = std::fs::read(&f.db).unwrap();
    let list = f.list_of(&last).await;
    let info = testing::content_list_info(&f.t.repo, &list).await.unwrap();
    assert!(!info.is_delta, "a delta past the max depth");
    assert_eq!(info.depth, 0);
    let restored = restore_into(&f.t.repo, &last, &f.t.dir.path().join("last")).await;
    assert_same_pages(&last_bytes, &restored.join("source/chat.db"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_base_chain() {
    let f = fixture().await;
    f.backup().await;
    change_rows(&f.db, 1, &[20, 900]);
    let second = f.backup().await;
    let second_list = f.list_of(&second).await;
    let before = restore_into(&f.t.repo, &second, &f.t.dir.path().join("before")).await;
    let before_bytes = std::fs::read(before.join("source/chat.db")).unwrap();

    let keep_last = RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    assert_eq!(f.t.repo.forget(&keep_last, false).await.unwrap().removed, 1);
    // A threshold of 0 repacks every pack with an unused byte, so the full list is
    // copied out of the first backup's tree pack.
    let options = PruneOptions {
        grace: Duration::ZERO,
        repack_threshold: 0.0,
        ..PruneOptions::default()
    };
    let marked = f.t.repo.prune(&options).await.unwrap();
    assert!(marked.blobs_copied >= 1, "{marked:?}");
    f.t.repo.prune(&options).await.unwrap();

    let reopened = f.t.reopen().await;
    let info = testing::content_list_info(&reopened, &second_list)
        .await
        .unwrap();
    assert!(info.is_delta);
    assert_eq!(info.depth, 1);
    let after = restore_into(&reopened, &second, &f.t.dir.path().join("after")).await;
    let after_bytes = std::fs::read(after.join("source/chat.db")).unwrap();
    assert!(after_bytes == before_bytes, "restore differs after prune");
    assert_check_clean(&reopened).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_list_is_named() {
    let f = fixture().await;
    let first = f.backup().await;
    let list = f.list_of(&first).await;
    let (pack, offset, length) = testing::blob_location(&f.t.repo, &list).unwrap();
    let pack_file = f.t.repo_path().join(&pack);
    let mut bytes = std::fs::read(&pack_file).unwrap();
    bytes[(offset + length / 2) as usize] ^= 0x01;
    std::fs::write(&pack_file, bytes).unwrap();
    let repo = f.t.reopen().await;

    let target = f.t.dir.path().join("restored");
    let report = repo
        .restore(&first, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    assert_eq!(report.damaged[0].path, "source/chat.db");
    let objects = report.damaged[0].objects.join("; ");
    assert!(objects.contains(&list.short()), "{objects}");

    let check = repo.check(CheckOptions::default()).await.unwrap();
    assert!(!check.is_ok());
    assert!(
        check
            .damaged
            .iter()
            .any(|d| d.object.contains(&list.short())),
        "{check:?}"
    );
    assert!(
        check.affected.iter().any(|a| a.path == "source/chat.db"),
        "{check:?}"
    );

    // A damaged list is no base for a delta: the next backup writes a full list.
    change_rows(&f.db, 1, &[5]);
    let next = repo
        .backup(std::slice::from_ref(&f.source), quiet_options())
        .await
        .unwrap();
    f.t.repo.reload_index().await.unwrap();
    let node_list = f.list_of(&next.snapshot_id).await;
    assert_ne!(node_list, list);
    let info = testing::content_list_info(&repo, &node_list).await.unwrap();
    assert!(!info.is_delta);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_base_is_named() {
    let t = new_repo().await;
    let missing = ObjectId([0xab; 32]);
    let delta = testing::delta_list_plaintext(missing, 1, &[(0, vec![ObjectId([1; 32])])]);
    let ids = testing::store_tree_blobs(&t.repo, &[delta]).await.unwrap();
    let error = testing::resolve_content_list(&t.repo, &ids[0])
        .await
        .unwrap_err();
    assert!(error.is_damage(), "{error}");
    assert!(error.to_string().contains(&missing.short()), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_deep_chain_rejected() {
    let t = new_repo().await;
    let data = [ObjectId([1; 32]), ObjectId([2; 32])];
    let mut head = testing::store_tree_blobs(&t.repo, &[testing::full_list_plaintext(&data)])
        .await
        .unwrap()[0];
    for depth in 1..=MAX_DELTA_DEPTH + 1 {
        let run = vec![ObjectId([depth as u8 + 10; 32])];
        let delta = testing::delta_list_plaintext(head, 2, &[(depth as u64 % 2, run)]);
        head = testing::store_tree_blobs(&t.repo, &[delta]).await.unwrap()[0];
        let result = testing::resolve_content_list(&t.repo, &head).await;
        if depth <= MAX_DELTA_DEPTH {
            assert_eq!(result.unwrap().len(), 2, "depth {depth}");
        } else {
            let error = result.unwrap_err();
            assert!(matches!(error, RepoError::Damaged { .. }), "{error}");
            let text = error.to_string();
            assert!(text.contains(&head.short()), "{text}");
            assert!(text.contains("more than 32 delta lists"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_blob_is_not_a_content_list() {
    let f = fixture().await;
    let first = f.backup().await;
    let (_, snapshot) = f.t.repo.find_snapshot(&first.to_hex()).await.unwrap();
    let error = testing::resolve_content_list(&f.t.repo, &snapshot.tree)
        .await
        .unwrap_err();
    assert!(error.is_damage(), "{error}");
    assert!(error.to_string().contains("content list"), "{error}");
    let plaintext = f.t.repo.load_blob(BlobType::Tree, &snapshot.tree).await;
    assert!(plaintext.is_ok());
}
