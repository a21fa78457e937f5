//! Replays every committed fuzz input (fuzz/corpus/<target>/ and
//! fuzz/regressions/<target>/) through the targets' entry points, so a crash that a
//! fuzzer once found stays fixed in CI runs without cargo-fuzz.

use std::fs;
use std::path::{Path, PathBuf};

use haven_fuzzing::{sample_inputs, target, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs_of(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn committed_inputs_replay_without_panic() {
    let mut replayed = 0;
    for target in TARGETS {
        let corpus = inputs_of(&fuzz_dir().join("corpus").join(target.name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{} has no seed inputs",
            target.name
        );
        let regressions = inputs_of(&fuzz_dir().join("regressions").join(target.name));
        for path in corpus.iter().chain(&regressions) {
            let data = fs::read(path).expect("readable input");
            (target.run)(&data);
            replayed += 1;
        }
    }
    println!("replayed {replayed} inputs");
}

#[test]
fn every_corpus_folder_names_a_target() {
    for path in ["corpus", "regressions"]
        .iter()
        .flat_map(|dir| fs::read_dir(fuzz_dir().join(dir)).into_iter().flatten())
    {
        let name = path.expect("readable folder entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            target(&name).is_some(),
            "fuzz folder {name} names no target"
        );
    }
}

#[test]
fn samples_cover_every_target() {
    let samples = sample_inputs();
    for target in TARGETS.iter().filter(|t| t.name != "repo_sqlite_pages") {
        assert!(
            samples.iter().any(|(name, _)| *name == target.name),
            "no sample input for {}",
            target.name
        );
    }
}

#[test]
fn repo_samples_decode_under_test_keys() {
    use haven_repo::fuzzing as f;
    let keys = f::test_keys();
    for (name, input) in sample_inputs() {
        let decoded = match name {
            "repo_config" => f::config_object(&keys, &input).map(drop),
            "repo_config_plain" => f::config_plaintext(&keys, &input).map(drop),
            "repo_slot" => f::slot_object(&input),
            "repo_slot_body" => f::slot_body(&input),
            "repo_pack" => f::pack_object(&keys, &input).map(drop),
            "repo_pack_plain" => f::pack_plaintext(&keys, &input).map(drop),
            "repo_index" => f::index_object(&keys, &input).map(drop),
            "repo_index_plain" => f::index_plaintext(&keys, &input).map(drop),
            "repo_tree" => f::tree_object(&keys, &input).map(drop),
            "repo_tree_plain" => f::tree_plaintext(&input).map(drop),
            "repo_content_list_plain" => f::content_list_plaintext(&input).map(drop),
            "repo_row_increment_plain" => f::row_increment_plaintext(&input),
            "repo_snapshot" => f::snapshot_object(&keys, &input).map(drop),
            "repo_snapshot_plain" => f::snapshot_plaintext(&keys, &input).map(drop),
            _ => continue,
        };
        assert_eq!(decoded, Ok(()), "sample for {name} does not decode");
    }
}

#[test]
fn tree_with_unsafe_name_is_rejected() {
    use haven_repo::fuzzing as f;
    let keys = f::test_keys();
    let samples = sample_inputs();
    let (_, plain) = samples
        .iter()
        .find(|(n, _)| *n == "repo_tree_plain")
        .unwrap();
    let tree = f::tree_plaintext(plain).expect("sample tree decodes");
    for bad in [&b".."[..], b".", b"", b"a/b", b"/etc", b"a\0b"] {
        let mut changed = tree.clone();
        changed.nodes[0].name = bad.to_vec();
        changed.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let sealed = f::seal_tree(&keys, &changed);
        let error = f::tree_object(&keys, &sealed).expect_err("unsafe name accepted");
        assert!(error.contains("not a single file name"), "{error}");
    }
}

#[test]
fn structured_token_signature_verifies() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = format!(
        r#"{{"iss":"hs-tenant","sub":"alice","aud":"vault-fuzz","iat":{now},"exp":{}}}"#,
        now + 600
    );
    let token = haven_fuzzing::sign_hs256(br#"{"alg":"HS256","typ":"JWT"}"#, claims.as_bytes());
    let principal = haven_fuzzing::jwt_tenants().verify(&token, "vault-fuzz");
    assert!(principal.is_ok(), "{principal:?}");
}

/// Writes the seed corpus into fuzz/corpus/<target>/, one file per input named by a
/// hash of its content. Run with `cargo test -p haven-fuzzing --test replay -- --ignored`.
#[test]
#[ignore = "writes the committed seed corpus"]
fn write_seed_corpus() {
    let mut inputs = sample_inputs();
    inputs.extend(
        sqlite_databases()
            .into_iter()
            .map(|db| ("repo_sqlite_pages", db)),
    );
    for (name, data) in inputs {
        let dir = fuzz_dir().join("corpus").join(name);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join(&content_name(&data)[..16]);
        fs::write(file, data).unwrap();
    }
}

/// Real database files: WAL and rollback mode, 512-byte and 4096-byte pages.
fn sqlite_databases() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (i, (page_size, wal)) in [(512, false), (4096, true), (1024, false)]
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("db{i}.sqlite"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA page_size = {page_size};"))
            .unwrap();
        if *wal {
            conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, chat TEXT, body TEXT);
             INSERT INTO messages (chat, body) VALUES ('family', 'see you at 6'), ('work', 'ok');",
        )
        .unwrap();
        drop(conn);
        out.push(fs::read(&path).unwrap());
    }
    out
}

fn content_name(data: &[u8]) -> String {
    use std::fmt::Write;
    // A 64-bit FNV-1a hash and the length keep file names stable and apart.
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in data {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3);
    }
    let mut out = String::new();
    write!(out, "{hash:016x}{:08x}", data.len()).unwrap();
    out
}
