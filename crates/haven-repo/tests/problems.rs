//! Files that change, vanish or cannot be read during a backup: the backup finishes
//! and reports each one.

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use haven_repo::{BackupOptions, HookPoint, ProblemKind, RestoreOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_reports_changed_vanished_and_unreadable_files() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("steady.txt"), b"unchanged content\n").unwrap();
    fs::write(
        source.join("vanish.txt"),
        b"deleted between listing and reading\n",
    )
    .unwrap();
    fs::write(source.join("grow.txt"), random_bytes(5, 100_000)).unwrap();

    let hook = Arc::new(|path: &std::path::Path, point: HookPoint| {
        let name = path.file_name().unwrap().to_str().unwrap();
        match (name, point) {
            ("vanish.txt", HookPoint::BeforeOpen) => fs::remove_file(path).unwrap(),
            ("grow.txt", HookPoint::AfterOpen) => {
                let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
                file.write_all(b"appended while the backup reads the file")
                    .unwrap();
            }
            _ => {}
        }
    });
    let options = BackupOptions {
        hook: Some(hook),
        ..quiet_options()
    };
    // Reading /proc/self/mem at offset 0 fails with EIO even for root, which makes it
    // a real unreadable regular file (chmod 000 does not stop root).
    let paths = vec![source.clone(), PathBuf::from("/proc/self/mem")];
    let result = t.repo.backup(&paths, options).await.unwrap();

    let kind_of = |name: &str| {
        result
            .problems
            .iter()
            .find(|p| p.path.ends_with(name))
            .map(|p| p.kind.clone())
    };
    assert_eq!(
        kind_of("vanish.txt"),
        Some(ProblemKind::Vanished),
        "{:?}",
        result.problems
    );
    assert_eq!(
        kind_of("grow.txt"),
        Some(ProblemKind::Changed),
        "{:?}",
        result.problems
    );
    assert_eq!(
        kind_of("/proc/self/mem"),
        Some(ProblemKind::Unreadable),
        "{:?}",
        result.problems
    );
    assert_eq!(result.problems.len(), 3, "{:?}", result.problems);

    let target = t.dir.path().join("restored");
    let report = t
        .repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty());
    assert_eq!(
        fs::read(target.join("source/steady.txt")).unwrap(),
        b"unchanged content\n"
    );
    assert!(!target.join("source/vanish.txt").exists());
    assert!(target.join("source/grow.txt").exists());
    assert!(!target.join("mem").exists());

    // The changed file is read again by the next backup, not taken from this one.
    let from_first = BackupOptions {
        parent: haven_repo::ParentChoice::Snapshot(result.snapshot_id),
        ..quiet_options()
    };
    let next = t
        .repo
        .backup(std::slice::from_ref(&source), from_first)
        .await
        .unwrap();
    assert!(next.problems.is_empty(), "{:?}", next.problems);
    assert_eq!(next.snapshot.summary.files_unchanged, 1, "steady.txt only");
}
