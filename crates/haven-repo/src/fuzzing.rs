//! Parse entry points for the fuzz targets in `fuzz/` and the corpus replay test. Not a
//! stable API.
//!
//! Each `*_object` function takes the bytes of one stored object, as storage returns
//! them, and runs the same decoding that opening, listing or restoring runs. Each
//! `*_plaintext` function first seals its input under the fixed [`test_keys`], so a
//! fuzzer reaches the decoding behind the authentication tag. Every function returns
//! an error for bad input and panics only if the code under test panics.

use std::io::Cursor;

use haven_crypto::{BackupKey, SecretKey};

use crate::chunker::Chunker;
use crate::config::{decode_config_body, decode_config_outer, ConfigOuter};
use crate::content_list::{apply_chain, decode_content_list, ContentList};
use crate::envelope;
use crate::id::{to_cbor, ObjectId, SlotId};
use crate::index::{decode_index, IndexFile};
use crate::keys::{associated_data, KeySet};
use crate::pack::{open_blob, read_pack_header, BlobType, PackEntry};
use crate::slot::{decode_slot, key_check, unwrap_master, SLOT_MAGIC};
use crate::snapshot::{decode_snapshot, Snapshot};
use crate::sqlite::DatabaseHeader;
use crate::tree::{decode_tree, Tree};
use crate::RepoConfig;

/// Repository id of the fixed test repository (bytes `20 21 … 3f`).
pub const REPO_ID: [u8; 32] = sequence(0x20);
/// Master key of the fixed test repository (bytes `40 41 … 5f`).
pub const MASTER_KEY: [u8; 32] = sequence(0x40);
/// Backup key of the test repository's only slot (bytes `00 01 … 1f`).
pub const BACKUP_KEY: [u8; 32] = sequence(0x00);
/// Slot id of the test repository's only slot.
pub const SLOT_ID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
/// Nonce used when the entry points seal plaintext (bytes `60 61 … 77`).
pub const NONCE: [u8; 24] = [
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
];

const fn sequence(start: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = start + i as u8;
        i += 1;
    }
    out
}

/// The data, chunk-id and metadata keys of the fixed test repository.
pub struct TestKeys(KeySet);

/// Derives the keys of the fixed test repository.
pub fn test_keys() -> TestKeys {
    TestKeys(KeySet::derive(&SecretKey::from_bytes(MASTER_KEY), &REPO_ID))
}

fn seal_metadata(keys: &TestKeys, kind: &str, id: &[u8], plaintext: &[u8]) -> Vec<u8> {
    haven_crypto::seal_with_nonce(
        &keys.0.metadata,
        &NONCE,
        &associated_data(kind, id),
        plaintext,
    )
}

/// Decodes a `config` object: the clear part, then the sealed settings under the test
/// keys, then the chunker that a backup builds from those settings.
pub fn config_object(keys: &TestKeys, bytes: &[u8]) -> Result<RepoConfig, String> {
    match decode_config_outer(bytes)? {
        ConfigOuter::OtherVersion(version) => Err(format!("format version {version}")),
        ConfigOuter::Current { repo_id, sealed } => {
            let config = decode_config_body(&repo_id, &keys.0, &sealed)?;
            chunk_with_config(&config, b"fuzz");
            Ok(config)
        }
    }
}

/// Seals `plaintext` as the settings of the test repository's config and decodes it.
pub fn config_plaintext(keys: &TestKeys, plaintext: &[u8]) -> Result<RepoConfig, String> {
    let sealed = seal_metadata(keys, "config", &REPO_ID, plaintext);
    let config = decode_config_body(&REPO_ID, &keys.0, &sealed)?;
    chunk_with_config(&config, b"fuzz");
    Ok(config)
}

fn chunk_with_config(config: &RepoConfig, data: &[u8]) {
    let mut chunker = Chunker::new(Cursor::new(data), data, config, 0);
    while let Ok(Some(_)) = chunker.next_chunk() {}
}

/// Decodes a key slot object named [`SLOT_ID`] and, when its key check matches
/// [`BACKUP_KEY`], unwraps the master key as opening a repository does.
pub fn slot_object(bytes: &[u8]) -> Result<(), String> {
    let record = decode_slot(bytes, &REPO_ID, &SlotId(SLOT_ID))?;
    let key = BackupKey::from_bytes(BACKUP_KEY);
    if record.key_check == key_check(&key, &REPO_ID) {
        unwrap_master(&key, &REPO_ID, &record)?;
    }
    Ok(())
}

/// Wraps `body` in a key slot envelope with a correct checksum and decodes it, so a
/// fuzzer reaches the CBOR record behind the checksum.
pub fn slot_body(body: &[u8]) -> Result<(), String> {
    slot_object(&envelope::wrap(SLOT_MAGIC, body))
}

/// Reads a pack's header under the test keys and opens every blob it lists.
pub fn pack_object(keys: &TestKeys, bytes: &[u8]) -> Result<Vec<PackEntry>, String> {
    let entries = read_pack_header(&keys.0, bytes)?;
    for entry in &entries {
        // read_pack_header checked that every entry lies inside the pack.
        let start = entry.offset as usize;
        let sealed = &bytes[start..start + entry.length as usize];
        if let Ok(plaintext) = open_blob(&keys.0, entry.blob_type, &entry.id, sealed) {
            if entry.blob_type == BlobType::Tree {
                let _ = decode_tree(&plaintext);
            }
        }
    }
    Ok(entries)
}

/// Builds a pack from `input` = `blob area length (u32 LE) || blob area || header
/// plaintext (CBOR entries)`, sealing the header under the test keys, then reads it as
/// [`pack_object`] does. The blob area is also opened as one data blob payload.
pub fn pack_plaintext(keys: &TestKeys, input: &[u8]) -> Result<Vec<PackEntry>, String> {
    let (blobs, header_plaintext) = split_prefixed(input)?;
    let _ = blob_payload(keys, [0; 32], blobs);
    let header = seal_metadata(keys, "pack-header", &[], header_plaintext);
    let mut pack = blobs.to_vec();
    pack.extend_from_slice(&header);
    pack.extend_from_slice(&(header.len() as u32).to_le_bytes());
    pack_object(keys, &pack)
}

/// Splits `length (u32 LE) || first part || rest`.
fn split_prefixed(input: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some((length, rest)) = input.split_first_chunk::<4>() else {
        return Err("shorter than the 4-byte length prefix".into());
    };
    let length = (u32::from_le_bytes(*length) as usize).min(rest.len());
    Ok(rest.split_at(length))
}

/// Joins two parts in the form that [`pack_plaintext`] splits.
pub fn join_prefixed(first: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = (first.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(first);
    out.extend_from_slice(rest);
    out
}

/// Seals `payload` (compression byte and data) as a data blob whose id is
/// `id`, then opens it as a restore does.
pub fn blob_payload(keys: &TestKeys, id: [u8; 32], payload: &[u8]) -> Result<Vec<u8>, String> {
    let sealed = haven_crypto::seal_with_nonce(
        &keys.0.data,
        &NONCE,
        &associated_data("blob/data", &id),
        payload,
    );
    open_blob(&keys.0, BlobType::Data, &ObjectId(id), &sealed)
}

/// Decodes an index file stored under the name that its bytes hash to.
pub fn index_object(keys: &TestKeys, bytes: &[u8]) -> Result<usize, String> {
    let path = format!("index/{}", ObjectId::of_stored_bytes(bytes).to_hex());
    let file: IndexFile = decode_index(&keys.0, &path, bytes)?;
    Ok(file.packs.len())
}

/// Seals `plaintext` as an index file under the test keys and decodes it.
pub fn index_plaintext(keys: &TestKeys, plaintext: &[u8]) -> Result<usize, String> {
    index_object(keys, &seal_metadata(keys, "index", &[], plaintext))
}

/// Decodes a snapshot object stored under the name that its bytes hash to.
pub fn snapshot_object(keys: &TestKeys, bytes: &[u8]) -> Result<Snapshot, String> {
    let path = format!("snapshots/{}", ObjectId::of_stored_bytes(bytes).to_hex());
    decode_snapshot(&keys.0, &path, bytes)
}

/// Seals `plaintext` as a snapshot under the test keys and decodes it.
pub fn snapshot_plaintext(keys: &TestKeys, plaintext: &[u8]) -> Result<Snapshot, String> {
    snapshot_object(keys, &seal_metadata(keys, "snapshot", &[], plaintext))
}

/// Opens a sealed tree blob (`id (32 bytes) || sealed blob`) and decodes the tree.
pub fn tree_object(keys: &TestKeys, bytes: &[u8]) -> Result<Tree, String> {
    if bytes.len() < 32 {
        return Err("shorter than a blob id".into());
    }
    let (id, sealed) = bytes.split_at(32);
    let id = ObjectId(id.try_into().expect("32 bytes"));
    decode_tree(&open_blob(&keys.0, BlobType::Tree, &id, sealed)?)
}

/// Decodes a tree blob's plaintext, as a restore does after opening the blob.
pub fn tree_plaintext(plaintext: &[u8]) -> Result<Tree, String> {
    decode_tree(plaintext)
}

/// Length of the full list that [`content_list_plaintext`] applies a delta to.
pub const CONTENT_LIST_BASE_LEN: u8 = 8;

/// Decodes a content list blob's plaintext and resolves it as a restore does: a full
/// list alone, a delta on top of a full list of [`CONTENT_LIST_BASE_LEN`] ids.
/// Returns the number of chunk ids.
pub fn content_list_plaintext(plaintext: &[u8]) -> Result<usize, String> {
    let list = decode_content_list(plaintext)?;
    let mut chain = vec![list];
    if chain[0].base.is_some() {
        chain.push(ContentList {
            len: CONTENT_LIST_BASE_LEN.into(),
            ids: (0..CONTENT_LIST_BASE_LEN)
                .map(|n| ObjectId([n; 32]))
                .collect(),
            ..ContentList::default()
        });
    }
    apply_chain(&chain).map(|ids| ids.len())
}

/// Tables of the database that [`row_increment_plaintext`] applies increments to: a
/// rowid table, a WITHOUT ROWID table, a table without a declared key, an external
/// content full-text table and a trigger, with a few rows.
pub(crate) const ROW_FUZZ_SCHEMA: &str = "
    CREATE TABLE chat(id INTEGER PRIMARY KEY, title TEXT, body BLOB);
    CREATE TABLE member(chat INTEGER, user TEXT, role TEXT, PRIMARY KEY(chat, user))
        WITHOUT ROWID;
    CREATE TABLE log(at INTEGER, text TEXT);
    CREATE VIRTUAL TABLE chat_fts USING fts5(title, content='chat', content_rowid='id');
    CREATE TRIGGER chat_added AFTER INSERT ON chat BEGIN
        INSERT INTO log VALUES (new.id, new.title);
    END;
    INSERT INTO chat VALUES (1, 'hello', x'00'), (2, NULL, NULL);
    INSERT INTO member VALUES (1, 'a', 'admin');
    INSERT INTO chat_fts(chat_fts) VALUES ('rebuild');
";

/// Decodes `plaintext` as a row increment and applies it, as a restore does, to a
/// small database in memory with every kind of table. The increment's schema
/// fingerprint is replaced by the database's, so any input reaches the row writes.
/// Returns the error a restore would report.
pub fn row_increment_plaintext(plaintext: &[u8]) -> Result<(), String> {
    use std::sync::atomic::{AtomicU64, Ordering};

    use crate::sqlite::rows::{apply_chain, read_schema, Increment};

    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut increment: Increment = crate::id::from_cbor(plaintext)?;
    if !increment.is_supported() {
        return Err(format!(
            "unsupported increment version {}",
            increment.version
        ));
    }
    // A named in-memory database lives while one connection to it is open.
    let name = format!(
        "file:haven-fuzz-rows-{}-{}?mode=memory&cache=shared",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let holder = rusqlite::Connection::open(&name).map_err(|e| e.to_string())?;
    holder
        .execute_batch(ROW_FUZZ_SCHEMA)
        .map_err(|e| e.to_string())?;
    increment.schema = read_schema(&holder)?.fingerprint.to_vec();
    let hash_key = SecretKey::from_bytes(MASTER_KEY);
    let result = apply_chain(std::path::Path::new(&name), &[increment], &hash_key);
    drop(holder);
    result.map_err(|e| e.reason)
}

/// Seals a tree as a blob under the test keys: `id || sealed blob`, the input form of
/// [`tree_object`].
pub fn seal_tree(keys: &TestKeys, tree: &Tree) -> Vec<u8> {
    let plaintext = to_cbor(tree);
    let id = crate::pack::blob_id(&keys.0, &plaintext);
    let sealed = haven_crypto::seal_with_nonce(
        &keys.0.data,
        &NONCE,
        &associated_data("blob/tree", &id.0),
        &crate::compress::encode(&plaintext, true),
    );
    let mut out = id.0.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Splits `data` with FastCDC under the given sizes (or fixed pages for a SQLite
/// header) and returns the chunks. Sizes outside FastCDC's ranges are an error.
pub fn chunk(data: &[u8], min: u32, avg: u32, max: u32, seed: u64) -> Result<Vec<Vec<u8>>, String> {
    let options = crate::InitOptions {
        pack_size: 1 << 20,
        chunk_min: min,
        chunk_avg: avg,
        chunk_max: max,
    };
    options.validate()?;
    let config = RepoConfig {
        version: crate::FORMAT_VERSION,
        pack_size: options.pack_size,
        chunk_min: min,
        chunk_avg: avg,
        chunk_max: max,
        created: 0,
    };
    let mut chunker = Chunker::new(Cursor::new(data), data, &config, seed);
    let mut chunks = Vec::new();
    while let Some(chunk) = chunker.next_chunk().map_err(|e| e.to_string())? {
        chunks.push(chunk.into_bytes());
    }
    Ok(chunks)
}

/// Parses a SQLite header, checks the file length against it and cuts the file into
/// pages as a backup does. Returns the header and the pages.
pub fn sqlite_pages(data: &[u8]) -> Option<(DatabaseHeader, Vec<Vec<u8>>)> {
    let header = DatabaseHeader::parse(data)?;
    let _ = header.truncation(data.len() as u64);
    let _ = crate::chunker::sqlite_page_size(data);
    let config = RepoConfig {
        version: crate::FORMAT_VERSION,
        pack_size: 1 << 20,
        chunk_min: 64,
        chunk_avg: 256,
        chunk_max: 1024,
        created: 0,
    };
    let mut chunker = Chunker::new(Cursor::new(data), data, &config, 0);
    let mut pages = Vec::new();
    while let Ok(Some(page)) = chunker.next_chunk() {
        pages.push(page.into_bytes());
    }
    Some((header, pages))
}

/// Builds a seed input for each `haven-repo` fuzz target with the encoders that a
/// backup uses, under the test keys: a config, a recovery-key slot, a pack with data
/// blobs and a tree blob, its index file and a snapshot. Returns (target name, input)
/// pairs, several per target.
pub fn sample_inputs() -> Vec<(&'static str, Vec<u8>)> {
    crate::fuzzing_samples::sample_inputs(&test_keys().0)
}
