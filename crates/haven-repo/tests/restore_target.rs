//! Restoring into a target folder that already contains files, folders and symlinks.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use common::*;
use haven_repo::RestoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_never_writes_through_symlinks() {
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    fs::create_dir_all(source.join("sub")).unwrap();
    fs::write(source.join("hard1"), b"restored content").unwrap();
    fs::write(source.join("sub/file"), b"nested content").unwrap();
    let result = t.repo.backup(&[source], quiet_options()).await.unwrap();

    // The target contains a symlink where the snapshot has the folder `src`.
    let victim = t.dir.path().join("victim");
    fs::create_dir_all(&victim).unwrap();
    let target = t.dir.path().join("target");
    fs::create_dir_all(&target).unwrap();
    symlink(&victim, target.join("src")).unwrap();

    let options = RestoreOptions {
        includes: vec![PathBuf::from("src/hard1")],
        ..RestoreOptions::default()
    };
    t.repo
        .restore(&result.snapshot_id, &target, options)
        .await
        .unwrap();
    assert!(
        !victim.join("hard1").exists(),
        "the restore wrote through the symlink target/src"
    );
    let restored = target.join("src");
    assert!(fs::symlink_metadata(&restored).unwrap().is_dir());
    assert_eq!(
        fs::read(restored.join("hard1")).unwrap(),
        b"restored content"
    );

    // A symlink at a file's own path is replaced, and its target is untouched.
    let outside = t.dir.path().join("outside.txt");
    fs::write(&outside, b"not yours").unwrap();
    fs::remove_file(restored.join("hard1")).unwrap();
    symlink(&outside, restored.join("hard1")).unwrap();
    t.repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(fs::read(&outside).unwrap(), b"not yours");
    assert!(!fs::symlink_metadata(restored.join("hard1"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read(restored.join("sub/file")).unwrap(),
        b"nested content"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_rejects_include_not_in_snapshot() {
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("hard1"), b"content").unwrap();
    let result = t.repo.backup(&[source], quiet_options()).await.unwrap();

    let target = t.dir.path().join("target");
    for missing in ["src/missing", "hard1", "src/hard1/below"] {
        let options = RestoreOptions {
            includes: vec![PathBuf::from(missing)],
            ..RestoreOptions::default()
        };
        let error = t
            .repo
            .restore(&result.snapshot_id, &target, options)
            .await
            .expect_err(missing)
            .to_string();
        assert!(error.contains(missing), "{error}");
        assert!(error.contains("relative to the snapshot root"), "{error}");
        assert!(error.contains("top-level entries are: src"), "{error}");
    }
    assert!(!target.exists(), "a rejected restore created the target");
}
