//! Copying sealed blobs from existing packs into new packs, for prune's repacking
//! and for a backup that needs blobs out of packs marked for deletion.
//!
//! Sealed blobs are copied byte for byte: their associated data binds type and id,
//! not the pack, so they stay valid. Each is authenticated before it is copied, so
//! a damaged blob is never copied into a fresh pack.

use std::collections::BTreeMap;

use crate::error::{Damage, Result};
use crate::id::ObjectId;
use crate::index::{self, BlobLocation, IndexFile, IndexedPack};
use crate::pack::{self, BlobType, PackBuilder};
use crate::Repository;

/// Counts of blobs, packs and bytes a copy wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CopyStats {
    pub blobs: u64,
    pub packs: u64,
    /// Bytes of packs and index files written.
    pub bytes_written: u64,
}

impl Repository {
    /// Copies `blobs` into new packs, writes one index file for them and adds them to
    /// the in-memory index. Reads each source pack once.
    pub(crate) async fn copy_blobs(&self, blobs: &[(ObjectId, BlobLocation)]) -> Result<CopyStats> {
        let mut by_pack: BTreeMap<ObjectId, Vec<&(ObjectId, BlobLocation)>> = BTreeMap::new();
        for blob in blobs {
            by_pack.entry(blob.1.pack).or_default().push(blob);
        }
        let mut writer = PackWriter::new(self);
        for (pack_id, entries) in by_pack {
            let path = pack::pack_path(&pack_id);
            let Some(bytes) = self.storage.read(&path).await? else {
                return Err(self.damaged(Damage::new(path, "missing while its blobs were copied")));
            };
            for (id, location) in entries {
                let end = location.offset.saturating_add(location.length);
                if end > bytes.len() as u64 {
                    return Err(self.damaged(Damage::new(
                        format!("blob {} in {path}", id.short()),
                        format!("lies beyond the end of the {}-byte pack", bytes.len()),
                    )));
                }
                let sealed = &bytes[location.offset as usize..end as usize];
                pack::open_blob(&self.keys, location.blob_type, id, sealed).map_err(|reason| {
                    self.damaged(Damage::new(
                        format!("blob {} in {path}", id.short()),
                        reason,
                    ))
                })?;
                writer
                    .add(location.blob_type, *id, sealed, location.raw_length)
                    .await?;
            }
        }
        writer.finish().await
    }
}

/// Fills packs of each blob type and uploads each when it reaches the pack size.
pub(crate) struct PackWriter<'a> {
    repo: &'a Repository,
    data: PackBuilder,
    trees: PackBuilder,
    written: Vec<IndexedPack>,
    stats: CopyStats,
}

impl<'a> PackWriter<'a> {
    pub(crate) fn new(repo: &'a Repository) -> Self {
        Self {
            repo,
            data: PackBuilder::default(),
            trees: PackBuilder::default(),
            written: Vec::new(),
            stats: CopyStats::default(),
        }
    }

    pub(crate) async fn add(
        &mut self,
        blob_type: BlobType,
        id: ObjectId,
        sealed: &[u8],
        raw_length: u64,
    ) -> Result<()> {
        let builder = match blob_type {
            BlobType::Data => &mut self.data,
            BlobType::Tree => &mut self.trees,
        };
        builder.add(blob_type, id, sealed, raw_length);
        self.stats.blobs += 1;
        if builder.len() >= self.repo.config.pack_size {
            let full = std::mem::take(builder);
            self.upload(full).await?;
        }
        Ok(())
    }

    async fn upload(&mut self, builder: PackBuilder) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        let finished = builder.finish(&self.repo.keys);
        let size = finished.bytes.len() as u64;
        self.repo
            .storage
            .write(&pack::pack_path(&finished.id), finished.bytes)
            .await?;
        self.stats.packs += 1;
        self.stats.bytes_written += size;
        self.written.push(IndexedPack {
            id: finished.id,
            size,
            blobs: finished.entries,
        });
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<CopyStats> {
        let data = std::mem::take(&mut self.data);
        let trees = std::mem::take(&mut self.trees);
        self.upload(data).await?;
        self.upload(trees).await?;
        if self.written.is_empty() {
            return Ok(self.stats);
        }
        let file = IndexFile {
            packs: self.written,
        };
        let (id, bytes) = index::encode_index(&self.repo.keys, &file);
        self.stats.bytes_written += bytes.len() as u64;
        self.repo
            .storage
            .write(&index::index_path(&id), bytes)
            .await?;
        let mut index = self.repo.index.write().expect("index lock");
        for pack in &file.packs {
            index.add_pack(pack);
        }
        Ok(self.stats)
    }
}
