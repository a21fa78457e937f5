//! Files whose chunks are large enough to be hashed on the sealing threads, and whose
//! content is stored once their folder is walked: each file keeps its own content,
//! whatever folder it is in.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use haven_crypto::BackupKey;
use haven_repo::{CheckOptions, InitOptions, ObjectId, Repository, RestoreOptions, Storage};

/// Chunks of 128 KiB and more, the smallest that the sealing threads hash.
fn large_chunk_options() -> InitOptions {
    InitOptions {
        pack_size: 1024 * 1024,
        chunk_min: 128 * 1024,
        chunk_avg: 256 * 1024,
        chunk_max: 512 * 1024,
    }
}

/// Files and folders in an order where a folder's files come before and after a
/// subfolder with files of its own.
fn build_source(root: &Path) {
    fs::create_dir_all(root.join("m/n")).unwrap();
    fs::write(root.join("a.bin"), random_bytes(1, 1_500_000)).unwrap();
    fs::write(root.join("m/b.bin"), random_bytes(2, 1_000_000)).unwrap();
    fs::write(root.join("m/n/c.bin"), random_bytes(3, 3_000_000)).unwrap();
    fs::write(
        root.join("m/n/small.txt"),
        b"a small file between large ones",
    )
    .unwrap();
    fs::write(root.join("m/z.bin"), random_bytes(1, 1_500_000)).unwrap();
    fs::write(root.join("zeros.bin"), vec![0u8; 2_000_000]).unwrap();
    fs::write(root.join("zz.bin"), random_bytes(4, 700_000)).unwrap();
    fs::write(root.join("hard-1"), random_bytes(5, 1_000_000)).unwrap();
    fs::hard_link(root.join("hard-1"), root.join("hard-2")).unwrap();
}

async fn restore_matches(repo: &Repository, snapshot: &ObjectId, source: &Path, target: &Path) {
    let report = repo
        .restore(snapshot, target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    assert_same_entries(&describe(source), &describe(&target.join("source")));
}

/// Creates a repository with [`large_chunk_options`] in `dir/repo` and returns its URL,
/// key and handle.
async fn large_chunk_repo(dir: &Path) -> (String, BackupKey, Repository) {
    let url = dir.join("repo").to_str().unwrap().to_string();
    let key = BackupKey::generate();
    let repo = Repository::init(Storage::open(&url).unwrap(), &key, large_chunk_options())
        .await
        .unwrap();
    (url, key, repo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_large_files_restore_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (url, key, repo) = large_chunk_repo(dir.path()).await;
    let source = dir.path().join("source");
    build_source(&source);

    let first = repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    // m/z.bin repeats a.bin and hard-2 is hard-1: one copy of each is stored.
    let written = first.snapshot.summary.bytes_written;
    let unique = 1_500_000 + 1_000_000 + 3_000_000 + 700_000 + 1_000_000;
    assert!(written > unique, "wrote {written}");
    assert!(
        written < unique + 300_000,
        "wrote {written}, expected one copy"
    );
    restore_matches(&repo, &first.snapshot_id, &source, &dir.path().join("r1")).await;

    // A changed file and a new one in the subfolder, against the first snapshot.
    let mut changed = random_bytes(3, 3_000_000);
    changed.extend(random_bytes(6, 400_000));
    fs::write(source.join("m/n/c.bin"), changed).unwrap();
    fs::write(source.join("m/n/d.bin"), random_bytes(7, 900_000)).unwrap();
    let second = repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert!(second.problems.is_empty(), "{:?}", second.problems);
    assert!(
        second.snapshot.summary.bytes_written < 2_000_000,
        "wrote {}",
        second.snapshot.summary.bytes_written
    );
    let reopened = Repository::open(Storage::open(&url).unwrap(), &key)
        .await
        .unwrap();
    restore_matches(
        &reopened,
        &second.snapshot_id,
        &source,
        &dir.path().join("r2"),
    )
    .await;
    let report = reopened
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    assert!(report.blobs_read > 30, "read {} blobs", report.blobs_read);
}

/// A pack's blobs are verified on two threads: damage to its first blob and to its
/// last blob are both found and named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_first_and_last_damaged_blob() {
    let dir = tempfile::tempdir().unwrap();
    let (url, key, repo) = large_chunk_repo(dir.path()).await;
    let source = dir.path().join("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.bin"), random_bytes(8, 4_000_000)).unwrap();
    repo.backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    // The largest data pack: 1 MiB of chunks of at most 512 KiB, so several blobs.
    let (pack, _) = repo
        .indexed_packs()
        .into_iter()
        .filter(|(_, blob_type)| *blob_type == haven_repo::BlobType::Data)
        .max_by_key(|(pack, _)| fs::metadata(Path::new(&url).join(pack)).unwrap().len())
        .unwrap();
    let path = Path::new(&url).join(&pack);
    let mut bytes = fs::read(&path).unwrap();
    let header_len = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as usize;
    let data_end = bytes.len() - 4 - header_len;
    // Inside the first blob, and inside the last blob before its tag.
    bytes[40] ^= 0x10;
    bytes[data_end - 40] ^= 0x10;
    fs::write(&path, bytes).unwrap();

    let reopened = Repository::open(Storage::open(&url).unwrap(), &key)
        .await
        .unwrap();
    let report = reopened
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    let damaged_blobs: Vec<String> = report
        .damaged
        .iter()
        .map(|d| d.to_string())
        .filter(|d| d.starts_with("blob ") && d.contains(&pack))
        .collect();
    assert_eq!(damaged_blobs.len(), 2, "{:?}", report.damaged);
    assert!(
        report.affected.iter().any(|a| a.path.ends_with("a.bin")),
        "{:?}",
        report.affected
    );
}

/// A storage error while a file's large chunks are in the pipeline ends the backup
/// with that error. NOTE: which thread meets the error first depends on timing, so
/// this does not always reach the wait for a file's chunk ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upload_ends_large_file_backup() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _, repo) = large_chunk_repo(dir.path()).await;
    // A file where the data folder should be: every pack upload fails.
    let data = Path::new(&url).join("data");
    let _ = fs::remove_dir_all(&data);
    fs::write(&data, b"not a folder").unwrap();
    let source = dir.path().join("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.bin"), random_bytes(9, 8_000_000)).unwrap();

    let backup = repo.backup(std::slice::from_ref(&source), quiet_options());
    let result = tokio::time::timeout(std::time::Duration::from_secs(120), backup)
        .await
        .expect("the backup stopped waiting after the upload failed");
    let error = result.expect_err("the backup failed").to_string();
    assert!(error.contains("data/"), "{error}");
}
