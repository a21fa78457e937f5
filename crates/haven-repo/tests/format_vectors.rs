//! Checks the test vectors in docs/FORMAT.md against the code.

use std::collections::BTreeMap;

use haven_crypto::BackupKey;
use haven_repo::{testing, ObjectId};

const FORMAT_MD: &str = include_str!("../../../docs/FORMAT.md");

fn counting(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + i as u8)
}

/// Parses the `vectors` block: `name = value` lines, where a value may continue on
/// indented lines.
fn documented_vectors() -> BTreeMap<String, String> {
    let start = FORMAT_MD
        .find("```vectors\n")
        .expect("FORMAT.md has a vectors block")
        + 11;
    let end = start + FORMAT_MD[start..].find("```").unwrap();
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in FORMAT_MD[start..end].lines() {
        if let Some((name, value)) = line.split_once(" = ") {
            current = Some(name.trim().to_string());
            out.insert(name.trim().to_string(), value.trim().to_string());
        } else if let Some(name) = &current {
            out.get_mut(name).unwrap().push_str(line.trim());
        }
    }
    out
}

/// Computes every vector from the inputs stated in FORMAT.md.
fn computed_vectors() -> BTreeMap<String, String> {
    let backup_key = counting(0x00);
    let repo_id = counting(0x20);
    let master = counting(0x40);
    let nonce: [u8; 24] = std::array::from_fn(|i| 0x60 + i as u8);
    let slot_id = [1, 2, 3, 4, 5, 6, 7, 8];
    let (data, chunk_id, metadata, seed) = testing::derived_keys(&master, &repo_id);
    let blob_id = testing::blob_id(&master, &repo_id, b"hello haven");
    let mut out = BTreeMap::new();
    let mut put = |name: &str, value: String| {
        out.insert(name.to_string(), value);
    };
    put(
        "key_check",
        hex::encode(testing::key_check(
            &BackupKey::from_bytes(backup_key),
            &repo_id,
        )),
    );
    put("data_key", hex::encode(data));
    put("chunk_id_key", hex::encode(chunk_id));
    put("metadata_key", hex::encode(metadata));
    put("chunker_seed", seed.to_string());
    put("blob_id", hex::encode(blob_id));
    put("blob_aad", hex::encode(testing::aad("blob/data", &blob_id)));
    put(
        "sealed_blob",
        hex::encode(testing::sealed_data_blob(
            &master,
            &repo_id,
            b"hello haven",
            &nonce,
        )),
    );
    put(
        "slot_object",
        hex::encode(testing::slot_object(
            &backup_key,
            &master,
            &repo_id,
            slot_id,
            &nonce,
        )),
    );
    content_list_vectors(&master, &repo_id, &mut out);
    out
}

/// A full content list of ids `80 81 … 9f` and `a0 a1 … bf`, and a delta against it
/// that sets positions 1 and 2 to `c0 c1 … df` and `e0 e1 … ff`.
fn content_list_vectors(master: &[u8; 32], repo_id: &[u8; 32], out: &mut BTreeMap<String, String>) {
    let [a, b, c, d] = [0x80, 0xa0, 0xc0, 0xe0].map(|start| ObjectId(counting(start)));
    let full = testing::full_list_plaintext(&[a, b]);
    let full_id = ObjectId(testing::blob_id(master, repo_id, &full));
    let delta = testing::delta_list_plaintext(full_id, 3, &[(1, vec![c, d])]);
    out.insert("content_list_full".into(), hex::encode(&full));
    out.insert("content_list_full_id".into(), full_id.to_hex());
    out.insert("content_list_delta".into(), hex::encode(&delta));
}

#[test]
fn format_doc_vectors_match_code() {
    let documented = documented_vectors();
    let computed = computed_vectors();
    if std::env::var("HAVEN_PRINT_VECTORS").is_ok() {
        for (name, value) in &computed {
            println!("{name} = {value}");
        }
    }
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        computed.keys().collect::<Vec<_>>(),
        "vector names"
    );
    for (name, value) in &computed {
        assert_eq!(&documented[name], value, "vector {name}");
    }
}

#[test]
fn documented_sealed_blob_opens() {
    let documented = documented_vectors();
    let sealed = hex::decode(&documented["sealed_blob"]).unwrap();
    let id: [u8; 32] = hex::decode(&documented["blob_id"])
        .unwrap()
        .try_into()
        .unwrap();
    let plain = testing::open_data_blob(&counting(0x40), &counting(0x20), &id, &sealed).unwrap();
    assert_eq!(plain, b"hello haven");
}
