//! A damaged chunk in the middle of a file read in a run and written around the cache.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{new_repo, random_bytes};
use haven_repo::testing;
use haven_repo::RestoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_chunk_in_run_keeps_offsets() {
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    std::fs::create_dir(&source).unwrap();
    let a = random_bytes(1, 3 << 20);
    let b = random_bytes(2, (2 << 20) + 123);
    std::fs::write(source.join("a.bin"), &a).unwrap();
    std::fs::write(source.join("b.bin"), &b).unwrap();
    let (snapshot, node) = t.backup_and_find(&source, "src/a.bin").await;
    assert!(node.content.len() > 4, "{} chunks", node.content.len());
    let damaged = node.content[node.content.len() / 2];
    let (pack, offset, length) = testing::blob_location(&t.repo, &damaged).unwrap();
    let pack_file = t.repo_path().join(&pack);
    let mut bytes = std::fs::read(&pack_file).unwrap();
    bytes[(offset + length / 2) as usize] ^= 0x01;
    std::fs::write(&pack_file, bytes).unwrap();
    let repo = t.reopen().await;

    let target = t.dir.path().join("target");
    let report = repo
        .restore(&snapshot, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    let restored_a = std::fs::read(target.join("src/a.bin")).unwrap();
    assert_eq!(restored_a.len(), a.len());
    let differing: Vec<usize> = (0..a.len()).filter(|&i| restored_a[i] != a[i]).collect();
    assert!(!differing.is_empty());
    let (first, last) = (differing[0], *differing.last().unwrap());
    assert!(
        restored_a[first..=last].iter().all(|&x| x == 0),
        "bytes other than the damaged chunk's zeros differ: {first}..={last}"
    );
    assert!(last - first < 64 * 1024, "differs over {first}..={last}");
    assert!(
        std::fs::read(target.join("src/b.bin")).unwrap() == b,
        "b.bin differs"
    );
    let meta = std::fs::metadata(target.join("src/a.bin")).unwrap();
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    assert_ne!(
        mtime_ns,
        i128::from(node.mtime_ns),
        "the damaged file looks finished"
    );
}
