//! Damaged objects of every kind: check names them, restore names the affected files,
//! and no message calls damage a wrong key.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use haven_repo::{
    BlobType, CheckOptions, ObjectId, RepoError, Repository, RestoreOptions, Storage,
};

#[derive(Clone, Copy, Debug)]
enum Corruption {
    Truncate(usize),
    FlipBit,
    AppendGarbage,
    ReplaceWithOther,
}

const CORRUPTIONS: [Corruption; 6] = [
    Corruption::Truncate(0),
    Corruption::Truncate(1),
    Corruption::Truncate(15),
    Corruption::FlipBit,
    Corruption::AppendGarbage,
    Corruption::ReplaceWithOther,
];

/// A repository with two snapshots, several data packs, two tree packs and two
/// index files, and a second repository to take foreign objects from.
struct Fixture {
    t: TestRepo,
    other: TestRepo,
    first_snapshot: ObjectId,
    first_indexes: Vec<PathBuf>,
    first_packs: Vec<(String, BlobType)>,
}

async fn fixture() -> Fixture {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    fs::create_dir_all(source.join("sub")).unwrap();
    fs::write(source.join("big.bin"), random_bytes(1, 700_000)).unwrap();
    fs::write(source.join("small.txt"), b"small file\n").unwrap();
    fs::write(source.join("sub/inner.txt"), random_bytes(2, 30_000)).unwrap();
    let first = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let first_indexes = t.objects("index");
    let first_packs = t.repo.indexed_packs();
    fs::write(source.join("sub/inner.txt"), random_bytes(3, 30_000)).unwrap();
    fs::write(source.join("added.bin"), random_bytes(4, 300_000)).unwrap();
    t.repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let other = new_repo().await;
    Fixture {
        t,
        other,
        first_snapshot: first.snapshot_id,
        first_indexes,
        first_packs,
    }
}

/// Copies the fixture's repository folder, so each corruption starts from a clean copy.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn corrupt(path: &Path, corruption: Corruption, replacement: &Path) {
    let mut bytes = fs::read(path).unwrap();
    match corruption {
        Corruption::Truncate(len) => bytes.truncate(len),
        Corruption::FlipBit => {
            // Byte 40 is inside the first blob of a pack and inside the checksummed
            // body of a config or key slot.
            let position = 40.min(bytes.len() / 2);
            bytes[position] ^= 0x10;
        }
        Corruption::AppendGarbage => bytes.extend_from_slice(b"garbage appended by the test"),
        Corruption::ReplaceWithOther => bytes = fs::read(replacement).unwrap(),
    }
    fs::write(path, bytes).unwrap();
}

fn assert_no_wrong_key(messages: &[String]) {
    for message in messages {
        assert!(
            !message.contains("does not open"),
            "damage reported as a wrong key: {message}"
        );
        assert!(
            !message.contains("check the key"),
            "damage reported as a wrong key: {message}"
        );
    }
}

/// Makes a damaged copy and returns its URL.
fn damaged_copy(
    f: &Fixture,
    case: &str,
    relative: &str,
    corruption: Corruption,
    replacement: &Path,
) -> String {
    let copy = f.t.dir.path().join(format!("copy-{case}"));
    copy_dir(&f.t.repo_path(), &copy);
    corrupt(&copy.join(relative), corruption, replacement);
    copy.to_str().unwrap().to_string()
}

fn relative(f: &Fixture, path: &Path) -> String {
    path.strip_prefix(f.t.repo_path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// Damage that stops the repository from opening: the error names `object`.
async fn expect_open_damage(f: &Fixture, object: &str, other_copy: &Path) {
    for (i, corruption) in CORRUPTIONS.iter().enumerate() {
        let url = damaged_copy(f, &format!("{i}"), object, *corruption, other_copy);
        let result = Repository::open(Storage::open(&url).unwrap(), &f.t.key).await;
        let error = match result {
            Err(e) => e,
            Ok(_) => panic!("{corruption:?} of {object}: the repository still opened"),
        };
        assert!(
            matches!(error, RepoError::Damaged { .. }),
            "{corruption:?} of {object}: {error}"
        );
        let message = error.to_string();
        assert!(
            message.contains(object.trim_end_matches(|c| c != '/')),
            "{corruption:?}: {message}"
        );
        assert_no_wrong_key(&[message]);
        fs::remove_dir_all(&url).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_config_is_named() {
    let f = fixture().await;
    expect_open_damage(&f, "config", &f.other.repo_path().join("config")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_key_slot_is_named() {
    let f = fixture().await;
    let slot = relative(&f, &f.t.objects("keys")[0]);
    let other_slot = f.other.objects("keys")[0].clone();
    expect_open_damage(&f, &slot, &other_slot).await;
}

/// Damage inside the repository: check names `object`, and restoring the first
/// snapshot either reports affected files or fails as damage.
async fn expect_data_damage(f: &Fixture, object: &str, replacement: &Path, read_data: bool) {
    for (i, corruption) in CORRUPTIONS.iter().enumerate() {
        let url = damaged_copy(f, &format!("{i}"), object, *corruption, replacement);
        let repo = Repository::open(Storage::open(&url).unwrap(), &f.t.key)
            .await
            .unwrap_or_else(|e| panic!("{corruption:?} of {object}: open failed: {e}"));
        let report = repo.check(CheckOptions { read_data }).await.unwrap();
        let mut messages: Vec<String> = report.damaged.iter().map(|d| d.to_string()).collect();
        if matches!(corruption, Corruption::Truncate(0)) && object.starts_with("snapshots/") {
            // A zero-length snapshot object is what an interrupted write leaves on a
            // backend without atomic writes, so check lists it as a leftover, and the
            // snapshot no longer exists.
            assert!(
                report.leftovers.iter().any(|l| l.path == object),
                "{report:?}"
            );
            fs::remove_dir_all(&url).unwrap();
            continue;
        }
        assert!(
            report
                .damaged
                .iter()
                .any(|d| d.to_string().contains(object)),
            "{corruption:?} of {object}: check did not name it: {messages:?}"
        );

        let target = Path::new(&url).with_extension("restore");
        match repo
            .restore(&f.first_snapshot, &target, RestoreOptions::default())
            .await
        {
            Ok(restore) => {
                // Garbage after a pack's header leaves every blob readable.
                let data_intact =
                    matches!(corruption, Corruption::AppendGarbage) && object.starts_with("data/");
                assert_eq!(
                    restore.damaged.is_empty(),
                    data_intact,
                    "{corruption:?} of {object}: restore reported {:?}",
                    restore.damaged
                );
                for file in &restore.damaged {
                    assert!(!file.path.is_empty());
                    assert!(!file.objects.is_empty());
                    messages.extend(file.objects.clone());
                }
            }
            Err(e) => {
                assert!(
                    e.is_damage(),
                    "{corruption:?} of {object}: restore failed with {e}"
                );
                messages.push(e.to_string());
            }
        }
        assert_no_wrong_key(&messages);
        fs::remove_dir_all(&url).unwrap();
        let _ = fs::remove_dir_all(&target);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_index_is_named() {
    let f = fixture().await;
    let index = relative(&f, &f.first_indexes[0]);
    let replacement =
        f.t.objects("index")
            .into_iter()
            .find(|p| !f.first_indexes.contains(p))
            .unwrap();
    expect_data_damage(&f, &index, &replacement, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_snapshot_is_named() {
    let f = fixture().await;
    let object = format!("snapshots/{}", f.first_snapshot.to_hex());
    let replacement =
        f.t.objects("snapshots")
            .into_iter()
            .find(|p| !p.ends_with(f.first_snapshot.to_hex()))
            .unwrap();
    expect_data_damage(&f, &object, &replacement, false).await;
}

fn packs_of(f: &Fixture, blob_type: BlobType) -> (String, PathBuf) {
    let first: Vec<&String> = f
        .first_packs
        .iter()
        .filter(|(_, t)| *t == blob_type)
        .map(|(p, _)| p)
        .collect();
    let all = f.t.repo.indexed_packs();
    let other = all
        .iter()
        .find(|(p, t)| *t == blob_type && !first.contains(&p))
        .or_else(|| all.iter().find(|(p, t)| *t == blob_type && p != first[0]))
        .expect("a second pack of the same type");
    (first[0].clone(), f.t.repo_path().join(&other.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_data_pack_is_named() {
    let f = fixture().await;
    let (pack, replacement) = packs_of(&f, BlobType::Data);
    expect_data_damage(&f, &pack, &replacement, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_tree_pack_is_named() {
    let f = fixture().await;
    let (pack, replacement) = packs_of(&f, BlobType::Tree);
    // Trees are read by every check, so no --read-data is needed to find this.
    expect_data_damage(&f, &pack, &replacement, false).await;
}
