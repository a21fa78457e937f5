//! A pack cut short in the middle of a blob, read around the page cache.

mod common;

use common::{new_repo, random_bytes};
use haven_repo::testing;
use haven_repo::RestoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_pack_keeps_blobs_before_cut() {
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    std::fs::create_dir(&source).unwrap();
    let a = random_bytes(1, 3 << 20);
    std::fs::write(source.join("a.bin"), &a).unwrap();
    let (snapshot, node) = t.backup_and_find(&source, "src/a.bin").await;
    // The first chunk after another one of the same pack.
    let locations: Vec<_> = node
        .content
        .iter()
        .map(|id| testing::blob_location(&t.repo, id).unwrap())
        .collect();
    let cut_at = (1..locations.len())
        .find(|&i| locations[i].0 == locations[i - 1].0)
        .expect("two chunks share a pack");
    let (pack, offset, length) = locations[cut_at].clone();
    let pack_file = t.repo_path().join(&pack);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&pack_file)
        .unwrap();
    file.set_len(offset + length / 2 + 1).unwrap();
    drop(file);
    let repo = t.reopen().await;

    let target = t.dir.path().join("target");
    let report = repo
        .restore(&snapshot, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    let restored = std::fs::read(target.join("src/a.bin")).unwrap();
    assert_eq!(restored.len(), a.len());
    // The first chunk lies before the cut (chunks are at least 4 KiB), so it loads.
    assert_eq!(
        restored[..4096],
        a[..4096],
        "the chunk before the cut differs"
    );
    assert_ne!(restored, a, "the chunk after the cut was restored");
}
