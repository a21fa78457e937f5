//! Seed inputs for the fuzz targets, made by the real encoders under the test keys.

use haven_crypto::SecretKey;

use crate::config::encode_config;
use crate::content_list::{ContentList, Run};
use crate::fuzzing::{join_prefixed, BACKUP_KEY, MASTER_KEY, NONCE, REPO_ID, SLOT_ID};
use crate::id::{to_cbor, ObjectId, SlotId};
use crate::index::{encode_index, IndexFile, IndexedPack};
use crate::keys::KeySet;
use crate::pack::{blob_id, seal_blob, BlobType, PackBuilder};
use crate::slot::encode_slot_with_nonce;
use crate::snapshot::{encode_snapshot, BackupSummary, Snapshot};
use crate::tree::{Node, NodeKind, Tree};
use crate::{InitOptions, RepoConfig, SlotKind};

pub(crate) fn sample_inputs(keys: &KeySet) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    configs(keys, &mut out);
    slots(&mut out);
    let (tree, pack_bytes, header_plain, blob_area, packs) = pack_and_tree(keys);
    out.push(("repo_pack", pack_bytes));
    out.push(("repo_pack_plain", join_prefixed(&blob_area, &header_plain)));
    let tree_plain = to_cbor(&tree);
    let tree_id = blob_id(keys, &tree_plain);
    let mut sealed_tree = tree_id.0.to_vec();
    sealed_tree.extend_from_slice(&seal_blob(
        keys,
        BlobType::Tree,
        &tree_id,
        &tree_plain,
        true,
    ));
    out.push(("repo_tree", sealed_tree));
    out.push(("repo_tree_plain", tree_plain));
    out.push(("repo_tree_plain", to_cbor(&Tree::default())));
    content_lists(&mut out);
    out.push(("repo_row_increment_plain", row_increment()));
    let index = IndexFile { packs };
    out.push(("repo_index_plain", to_cbor(&index)));
    out.push(("repo_index", encode_index(keys, &index).1));
    out.push(("repo_index", encode_index(keys, &IndexFile::default()).1));
    for snapshot in [snapshot(tree_id, None), snapshot(tree_id, Some(tree_id))] {
        out.push(("repo_snapshot_plain", to_cbor(&snapshot)));
        out.push(("repo_snapshot", encode_snapshot(keys, &snapshot).1));
    }
    out
}

fn configs(keys: &KeySet, out: &mut Vec<(&'static str, Vec<u8>)>) {
    let defaults = InitOptions::default();
    for (min, avg, max, pack_size) in [
        (
            defaults.chunk_min,
            defaults.chunk_avg,
            defaults.chunk_max,
            defaults.pack_size,
        ),
        (64, 256, 1024, 4096),
    ] {
        let config = RepoConfig {
            version: crate::FORMAT_VERSION,
            pack_size,
            chunk_min: min,
            chunk_avg: avg,
            chunk_max: max,
            created: 1_700_000_000,
        };
        out.push(("repo_config", encode_config(&REPO_ID, keys, &config)));
        out.push(("repo_config_plain", to_cbor(&config)));
    }
}

fn slots(out: &mut Vec<(&'static str, Vec<u8>)>) {
    let kinds = [
        SlotKind::RecoveryKey,
        SlotKind::Vault {
            vault_url: "https://127.0.0.1:8443".into(),
            account: "alice".into(),
            vault_id: "vault-test".into(),
            server_fingerprint: "ab".repeat(32),
        },
    ];
    for kind in kinds {
        let slot = encode_slot_with_nonce(
            &haven_crypto::BackupKey::from_bytes(BACKUP_KEY),
            &SecretKey::from_bytes(MASTER_KEY),
            &REPO_ID,
            SlotId(SLOT_ID),
            kind,
            &NONCE,
        );
        // The envelope header is 8 bytes of magic and a 32-byte checksum.
        out.push(("repo_slot_body", slot[40..].to_vec()));
        out.push(("repo_slot", slot));
    }
}

type PackParts = (Tree, Vec<u8>, Vec<u8>, Vec<u8>, Vec<IndexedPack>);

fn pack_and_tree(keys: &KeySet) -> PackParts {
    let contents: [&[u8]; 3] = [
        b"hello haven",
        &[0u8; 300],
        b"SQLite format 3\0 and some text that compresses well, well, well, well, well",
    ];
    let mut builder = PackBuilder::default();
    let mut nodes = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let id = blob_id(keys, content);
        let sealed = seal_blob(keys, BlobType::Data, &id, content, true);
        builder.add(BlobType::Data, id, &sealed, content.len() as u64);
        nodes.push(file_node(
            format!("file-{i}").into_bytes(),
            id,
            content.len(),
        ));
    }
    nodes.push(Node {
        kind: NodeKind::Symlink,
        link_target: b"file-0".to_vec(),
        content: Vec::new(),
        content_list: None,
        row_increments: Vec::new(),
        ..file_node(b"link".to_vec(), ObjectId([0; 32]), 0)
    });
    let subtree = Tree::default();
    let subtree_plain = to_cbor(&subtree);
    let subtree_id = blob_id(keys, &subtree_plain);
    let sealed = seal_blob(keys, BlobType::Tree, &subtree_id, &subtree_plain, true);
    builder.add(
        BlobType::Tree,
        subtree_id,
        &sealed,
        subtree_plain.len() as u64,
    );
    nodes.push(Node {
        kind: NodeKind::Dir,
        mode: 0o40755,
        content: Vec::new(),
        content_list: None,
        row_increments: Vec::new(),
        subtree: Some(subtree_id),
        ..file_node(b"sub".to_vec(), ObjectId([0; 32]), 0)
    });
    let blob_area_len = builder.len() as usize;
    let pack = builder.finish(keys);
    let header_plain = to_cbor(&pack.entries);
    let blob_area = pack.bytes[..blob_area_len].to_vec();
    let indexed = IndexedPack {
        id: pack.id,
        size: pack.bytes.len() as u64,
        blobs: pack.entries.clone(),
    };
    (
        Tree { nodes },
        pack.bytes,
        header_plain,
        blob_area,
        vec![indexed],
    )
}

fn file_node(name: Vec<u8>, content: ObjectId, size: usize) -> Node {
    Node {
        name,
        kind: NodeKind::File,
        mode: 0o100644,
        mtime_ns: 1_700_000_000_000_000_000,
        ctime_ns: 1_700_000_000_000_000_000,
        uid: 1000,
        gid: 1000,
        size: size as u64,
        inode: 42,
        device: 7,
        links: 1,
        rdev: 0,
        link_target: Vec::new(),
        content: vec![content],
        content_list: None,
        row_increments: Vec::new(),
        subtree: None,
    }
}

fn snapshot(tree: ObjectId, parent: Option<ObjectId>) -> Snapshot {
    Snapshot {
        time_ns: 1_700_000_000_000_000_000,
        hostname: "fuzz-host".into(),
        paths: vec![b"/home/user/chats".to_vec()],
        tags: vec!["daily".into()],
        tree,
        parent,
        summary: BackupSummary {
            files_new: 3,
            bytes_read: 400,
            ..BackupSummary::default()
        },
    }
}

/// A full content list and a delta that changes one id and appends one.
fn content_lists(out: &mut Vec<(&'static str, Vec<u8>)>) {
    let base: Vec<ObjectId> = (0..crate::fuzzing::CONTENT_LIST_BASE_LEN)
        .map(|n| ObjectId([n; 32]))
        .collect();
    let full = ContentList {
        len: base.len() as u64,
        ids: base.clone(),
        ..ContentList::default()
    };
    let delta = ContentList {
        len: base.len() as u64 + 1,
        base: Some(ObjectId([0xee; 32])),
        runs: vec![
            Run {
                start: 2,
                ids: vec![ObjectId([0xaa; 32])],
            },
            Run {
                start: base.len() as u64,
                ids: vec![ObjectId([0xbb; 32])],
            },
        ],
        ..ContentList::default()
    };
    out.push(("repo_content_list_plain", to_cbor(&full)));
    out.push(("repo_content_list_plain", to_cbor(&delta)));
}

/// Returns a real increment: the fuzz database's rows scanned, changed in every table,
/// and scanned again.
fn row_increment() -> Vec<u8> {
    use crate::sqlite::rows::{read_schema, scan_database};

    let conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
    conn.execute_batch(crate::fuzzing::ROW_FUZZ_SCHEMA)
        .expect("fuzz schema");
    let schema = read_schema(&conn).expect("fuzz schema reads");
    let key = SecretKey::from_bytes(MASTER_KEY);
    let (before, _) = scan_database(&conn, None, &schema, &key, None).expect("first scan");
    conn.execute_batch(
        "INSERT INTO chat VALUES (3, 'new chat', x'0102');
         UPDATE chat SET title = 'renamed' WHERE id = 1;
         DELETE FROM chat WHERE id = 2;
         INSERT INTO member VALUES (3, 'b', NULL);
         INSERT INTO chat_fts(chat_fts) VALUES ('rebuild');",
    )
    .expect("changes");
    let (_, increment) =
        scan_database(&conn, None, &schema, &key, Some(before)).expect("second scan");
    to_cbor(&increment.expect("an increment against the first scan"))
}
