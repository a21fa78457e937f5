//! A damaged chunk that repeats inside a file is named once in the restore report.

mod common;

use std::fs;

use common::{new_repo, quiet_options, random_bytes};
use haven_repo::RestoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_damaged_chunk_is_named_once() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    fs::create_dir(&source).unwrap();
    // The same 256 KiB eight times: the chunks of one copy repeat in the others.
    let block = random_bytes(3, 256 * 1024);
    fs::write(source.join("repeat.bin"), block.repeat(8)).unwrap();
    let result = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();

    // Damage the middle of the largest pack, which contains the file's chunks. The
    // smaller one contains the trees.
    let packs = t.objects("data");
    let pack = packs
        .iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(pack, bytes).unwrap();
    let target = t.dir.path().join("restored");
    let report = t
        .reopen()
        .await
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    let damaged = report
        .damaged
        .iter()
        .find(|file| file.path.ends_with("repeat.bin"))
        .unwrap_or_else(|| panic!("repeat.bin is not reported damaged: {:?}", report.damaged));
    let mut unique = damaged.objects.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(damaged.objects.len(), unique.len(), "{:?}", damaged.objects);
}
