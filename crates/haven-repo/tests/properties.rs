//! Property tests of the format round trip: any small tree of files, any valid
//! chunking parameters and any key back up and restore identically, and any flipped
//! byte in any stored object is reported as damage that names the object, with no
//! panic and no wrong data restored.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use haven_crypto::BackupKey;
use haven_repo::{CheckOptions, InitOptions, Repository, RestoreOptions, Storage};
use proptest::prelude::*;

/// A file tree: relative path (one or two levels) to content.
type Files = BTreeMap<String, Vec<u8>>;

fn files_strategy() -> impl Strategy<Value = Files> {
    let name = "[a-z]{1,6}";
    let path = prop_oneof![
        name.prop_map(|n| format!("f-{n}")),
        (name, name).prop_map(|(d, n)| format!("d-{d}/f-{n}")),
    ];
    let content = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (any::<u64>(), 0usize..40_000).prop_map(|(seed, len)| random_bytes(seed, len)),
        (any::<u8>(), 0usize..20_000).prop_map(|(byte, len)| vec![byte; len]),
    ];
    proptest::collection::btree_map(path, content, 0..8)
}

fn options_strategy() -> impl Strategy<Value = InitOptions> {
    (64u32..2048, 256u32..8192, 1024u32..32_768, 4096u64..200_000).prop_map(
        |(min, avg, max, pack_size)| {
            let avg = avg.max(min);
            InitOptions {
                pack_size,
                chunk_min: min,
                chunk_avg: avg,
                chunk_max: max.max(avg),
            }
        },
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn write_files(root: &Path, files: &Files) {
    fs::create_dir_all(root).unwrap();
    for (path, content) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

fn read_files(root: &Path) -> Files {
    let mut out = Files::new();
    if !root.exists() {
        return out;
    }
    for (relative, state) in describe(root) {
        if state.kind == "file" {
            out.insert(String::from_utf8(relative).unwrap(), state.content);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn backup_then_restore_is_identical(
        files in files_strategy(),
        options in options_strategy(),
        key in any::<[u8; 32]>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        write_files(&source, &files);
        let before = describe(&source);
        let url = dir.path().join("repo").to_str().unwrap().to_string();
        let target = dir.path().join("restored");
        runtime().block_on(async {
            let key = BackupKey::from_bytes(key);
            let repo = Repository::init(Storage::open(&url).unwrap(), &key, options)
                .await
                .unwrap();
            let result = repo
                .backup(std::slice::from_ref(&source), quiet_options())
                .await
                .unwrap();
            prop_assert!(result.problems.is_empty(), "{:?}", result.problems);
            let reopened = Repository::open(Storage::open(&url).unwrap(), &key).await.unwrap();
            let report = reopened
                .restore(&result.snapshot_id, &target, RestoreOptions::default())
                .await
                .unwrap();
            prop_assert!(report.damaged.is_empty(), "{:?}", report.damaged);
            Ok(())
        })?;
        prop_assert_eq!(describe(&target.join("source")), before);
    }
}

/// A repository with one snapshot of a few files, copied afresh for each case.
struct Damageable {
    dir: tempfile::TempDir,
    key: BackupKey,
    files: Files,
    snapshot: haven_repo::ObjectId,
    objects: Vec<PathBuf>,
}

fn damageable() -> &'static Damageable {
    static FIXTURE: std::sync::OnceLock<Damageable> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let files: Files = [
            ("a.bin".to_string(), random_bytes(1, 50_000)),
            ("d/b.txt".to_string(), b"hello\n".repeat(500)),
            ("d/c.bin".to_string(), random_bytes(2, 9_000)),
        ]
        .into_iter()
        .collect();
        let source = dir.path().join("source");
        write_files(&source, &files);
        let url = dir.path().join("repo").to_str().unwrap().to_string();
        let key = BackupKey::generate();
        let options = InitOptions {
            pack_size: 16 * 1024,
            chunk_min: 1024,
            chunk_avg: 4096,
            chunk_max: 16 * 1024,
        };
        let snapshot = runtime().block_on(async {
            let repo = Repository::init(Storage::open(&url).unwrap(), &key, options)
                .await
                .unwrap();
            repo.backup(std::slice::from_ref(&source), quiet_options())
                .await
                .unwrap()
                .snapshot_id
        });
        let mut objects = Vec::new();
        collect_objects(Path::new(&url), &mut objects);
        objects.sort();
        Damageable {
            dir,
            key,
            files,
            snapshot,
            objects,
        }
    })
}

fn collect_objects(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_objects(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            fs::copy(&path, &dest).unwrap();
        }
    }
}

/// Returns the object's storage path (`data/ab/ab12…`, `config`, …) from a file path.
fn storage_path(repo: &Path, file: &Path) -> String {
    file.strip_prefix(repo)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn flipped_byte_is_named_damage(
        object in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let fixture = damageable();
        let original = fixture.dir.path().join("repo");
        let object = object.get(&fixture.objects);
        let name = storage_path(&original, object);
        let dir = tempfile::tempdir().unwrap();
        let repo_dir = dir.path().join("repo");
        copy_dir(&original, &repo_dir);
        let file = repo_dir.join(&name);
        let mut bytes = fs::read(&file).unwrap();
        let at = offset.index(bytes.len());
        bytes[at] ^= 1 << bit;
        fs::write(&file, &bytes).unwrap();

        let url = repo_dir.to_str().unwrap().to_string();
        let target = dir.path().join("restored");
        let outcome = runtime().block_on(async {
            let repo = match Repository::open(Storage::open(&url).unwrap(), &fixture.key).await {
                Ok(repo) => repo,
                Err(error) => return Err(error.to_string()),
            };
            let mut named = repo
                .damaged_indexes()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>();
            let check = repo.check(CheckOptions { read_data: true }).await;
            match check {
                Ok(report) => named.extend(report.damaged.iter().map(|d| d.to_string())),
                Err(error) => named.push(error.to_string()),
            }
            match repo.restore(&fixture.snapshot, &target, RestoreOptions::default()).await {
                Ok(report) => {
                    let damaged: Vec<String> =
                        report.damaged.iter().map(|file| file.path.clone()).collect();
                    Ok((named, damaged))
                }
                Err(error) => {
                    named.push(error.to_string());
                    Ok((named, Vec::new()))
                }
            }
        });
        let (named, damaged_files) = match outcome {
            Err(open_error) => (vec![open_error], Vec::new()),
            Ok(result) => result,
        };
        prop_assert!(
            named.iter().any(|message| message.contains(&name)),
            "flipping bit {} of byte {} in {} was not reported; reports: {:?}",
            bit, at, name, named
        );
        // Files that the restore did not report as damaged have their original bytes.
        let restored = read_files(&target.join("source"));
        for (path, content) in &restored {
            let reported = damaged_files.iter().any(|p| p.ends_with(path.as_str()));
            if !reported {
                prop_assert_eq!(Some(content), fixture.files.get(path), "wrong data in {}", path);
            }
        }
    }
}
