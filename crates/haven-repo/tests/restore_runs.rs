//! The larger files of a folder are read as one stream. Zero chunks, small files,
//! hard links and subfolders between them end or leave out parts of that stream,
//! and every file must still get its own bytes.

mod common;

use std::fs;

use common::*;
use haven_repo::RestoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_read_in_one_stream_keep_their_bytes() {
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    fs::create_dir_all(source.join("sub")).unwrap();
    let zeros = vec![0u8; 3 << 20];
    let a = [
        random_bytes(1, 400_000),
        zeros.clone(),
        random_bytes(2, 100_000),
    ]
    .concat();
    fs::write(source.join("a.bin"), &a).unwrap();
    // Its zero chunks are known from a.bin by the time the stream is planned.
    fs::write(
        source.join("b.bin"),
        [zeros, random_bytes(3, 300_000)].concat(),
    )
    .unwrap();
    fs::write(source.join("c.txt"), b"a small file between large ones").unwrap();
    fs::write(source.join("d.bin"), random_bytes(4, 500_000)).unwrap();
    fs::write(source.join("e.bin"), random_bytes(5, 500_000)).unwrap();
    fs::hard_link(source.join("e.bin"), source.join("f.bin")).unwrap();
    // The same bytes as d.bin: its chunks repeat in the stream.
    fs::write(source.join("g.bin"), random_bytes(4, 500_000)).unwrap();
    fs::write(source.join("h.bin"), random_bytes(6, 700_000)).unwrap();
    fs::write(source.join("sub/i.bin"), random_bytes(7, 600_000)).unwrap();
    fs::write(source.join("sub/j.bin"), random_bytes(8, 600_000)).unwrap();

    let result = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let target = t.dir.path().join("target");
    let report = t
        .repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    let restored = target.join("src");
    assert_eq!(describe(&restored), describe(&source));
    assert_eq!(fs::read(restored.join("a.bin")).unwrap(), a);

    // A second restore after removing two files of the stream writes only those.
    fs::remove_file(restored.join("b.bin")).unwrap();
    fs::remove_file(restored.join("h.bin")).unwrap();
    let again = t
        .repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(again.bytes, (3 << 20) + 300_000 + 700_000);
    assert_eq!(describe(&restored), describe(&source));
}
