//! Data packs written into a local folder while they fill.
//!
//! A pack is named by the hash of its bytes, so a pack built in memory needs a
//! buffer of the pack size until it is written. With one pack filling while the one
//! before was written, that was 44 MB of the 157 MB heap peak of a first backup of
//! the 1 GB benchmark folder. Into a local folder, the packer instead writes each
//! blob into a temporary file as it arrives, around the page cache (see
//! [`crate::direct_writer`]), and hashes the bytes on the way. Once the header is
//! written, the write thread syncs the file and renames it to its id, while the
//! packer goes on with the next pack. A killed backup leaves the temporary file
//! under `.tmp/`, never a partial pack under a pack's name.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, TryRecvError};

use crate::backend::temp_name;
use crate::direct_writer::{DirectStream, DirectWrites, Then};
use crate::id::ObjectId;
use crate::index::IndexedPack;
use crate::keys::KeySet;
use crate::pack::{self, BlobType, PackEntry};

/// A data pack being written into a local folder.
pub(crate) struct PackFile {
    temp: PathBuf,
    file: File,
    stream: DirectStream,
    hasher: blake3::Hasher,
    len: u64,
    entries: Vec<PackEntry>,
}

impl PackFile {
    /// Creates the pack's temporary file under the folder `root`.
    pub fn create(root: &Path, writes: &mut DirectWrites) -> io::Result<Self> {
        let temp_dir = root.join(".tmp");
        std::fs::create_dir_all(&temp_dir)?;
        let temp = temp_dir.join(format!("pack-{}", temp_name()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        let stream = match DirectStream::direct(&file, writes) {
            Ok(stream) => stream,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        Ok(Self {
            temp,
            file,
            stream,
            hasher: blake3::Hasher::new(),
            len: 0,
            entries: Vec::new(),
        })
    }

    /// Appends a sealed blob.
    pub fn add(
        &mut self,
        writes: &mut DirectWrites,
        blob_type: BlobType,
        id: ObjectId,
        sealed: &[u8],
        raw_length: u64,
    ) -> io::Result<()> {
        self.append(writes, sealed)?;
        self.entries.push(PackEntry {
            blob_type,
            id,
            offset: self.len - sealed.len() as u64,
            length: sealed.len() as u64,
            raw_length,
        });
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Returns the temporary file's path.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Writes the header and hands the pack to the write thread, which syncs the
    /// file and renames it to the pack's id under `root` after the pack's other
    /// writes. Returns the error with the path it concerns.
    pub fn finish(
        mut self,
        writes: &mut DirectWrites,
        keys: &KeySet,
        root: &Path,
    ) -> Result<ClosingPack, (PathBuf, io::Error)> {
        let trailer = pack::pack_trailer(keys, &self.entries);
        self.append(writes, &trailer)
            .map_err(|e| (self.temp.clone(), e))?;
        let id = ObjectId(*self.hasher.finalize().as_bytes());
        let target = root.join(pack::pack_path(&id));
        let (report, outcome) = channel();
        let temp = self.temp.clone();
        let then: Then = Box::new(move |file: &File, written: io::Result<()>| {
            let result = written
                .and_then(|()| file.sync_all())
                .map_err(|e| (temp.clone(), e))
                .and_then(|()| rename_to(&temp, &target).map_err(|e| (target, e)));
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            let _ = report.send(result);
        });
        let stream = std::mem::replace(&mut self.stream, DirectStream::buffered());
        stream
            .finish(&self.file, writes, then)
            .map_err(|e| (self.temp.clone(), e))?;
        // The write thread renames or removes it now.
        let temp = std::mem::take(&mut self.temp);
        Ok(ClosingPack {
            pack: IndexedPack {
                id,
                size: self.len,
                blobs: std::mem::take(&mut self.entries),
            },
            temp,
            outcome,
            result: None,
        })
    }

    /// Stops writing the pack and removes its temporary file.
    pub fn abandon(mut self, writes: &mut DirectWrites) {
        self.stream.abandon(writes);
    }

    fn append(&mut self, writes: &mut DirectWrites, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_at(&self.file, writes, bytes, self.len)?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// A pack that the write thread is syncing and renaming to its id.
pub(crate) struct ClosingPack {
    pack: IndexedPack,
    temp: PathBuf,
    outcome: Receiver<Outcome>,
    result: Option<Outcome>,
}

/// A closed pack's outcome: the error with the path it concerns.
type Outcome = Result<(), (PathBuf, io::Error)>;

/// Renames the finished file at `temp` to `target`, creating the target's folder.
fn rename_to(temp: &Path, target: &Path) -> io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(temp, target)
}

impl ClosingPack {
    /// Returns whether the write thread is done with the pack.
    pub fn is_done(&mut self) -> bool {
        if self.result.is_none() {
            self.result = match self.outcome.try_recv() {
                Ok(result) => Some(result),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => Some(Err((self.temp.clone(), stopped()))),
            };
        }
        true
    }

    /// Waits until the pack is under its id, and returns it as the index lists it,
    /// or the error with the path it concerns.
    pub fn wait(self) -> Result<IndexedPack, (PathBuf, io::Error)> {
        let result = match self.result {
            Some(result) => result,
            None => self
                .outcome
                .recv()
                .unwrap_or_else(|_| Err((self.temp, stopped()))),
        };
        result.map(|()| self.pack)
    }
}

fn stopped() -> io::Error {
    io::Error::other("the direct write thread stopped before the pack was synced")
}

impl Drop for PackFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use haven_crypto::SecretKey;

    use super::*;
    use crate::pack::PackBuilder;

    fn blobs() -> Vec<(ObjectId, Vec<u8>)> {
        [10usize, 5000, 1 << 20, 3 * (1 << 20) + 7, 1]
            .iter()
            .enumerate()
            .map(|(n, &len)| {
                let bytes = (0..len).map(|i| (i * 13 + n) as u8).collect();
                (ObjectId([n as u8; 32]), bytes)
            })
            .collect()
    }

    #[test]
    fn streamed_pack_equals_built_pack() {
        let keys = KeySet::derive(&SecretKey::from_bytes([7; 32]), &[9; 32]);
        let root = tempfile::tempdir().unwrap();
        let mut writes = DirectWrites::start().unwrap();
        let mut file = PackFile::create(root.path(), &mut writes).unwrap();
        let mut built = PackBuilder::default();
        for (id, sealed) in blobs() {
            file.add(&mut writes, BlobType::Data, id, &sealed, 99)
                .unwrap();
            built.add(BlobType::Data, id, &sealed, 99);
        }
        let blobs_end = built.len() as usize;
        let streamed = file
            .finish(&mut writes, &keys, root.path())
            .unwrap()
            .wait()
            .unwrap();
        let built = built.finish(&keys);
        assert_eq!(streamed.blobs, built.entries);
        let written = std::fs::read(root.path().join(pack::pack_path(&streamed.id))).unwrap();
        assert_eq!(ObjectId::of_stored_bytes(&written), streamed.id);
        assert_eq!(streamed.size, written.len() as u64);
        // The sealed headers differ only in their random nonces.
        assert_eq!(written.len(), built.bytes.len());
        assert!(
            written[..blobs_end] == built.bytes[..blobs_end],
            "the blobs' bytes differ"
        );
        let temp: Vec<_> = std::fs::read_dir(root.path().join(".tmp"))
            .unwrap()
            .collect();
        assert!(temp.is_empty(), "temporary files left: {temp:?}");
    }

    #[test]
    fn abandoned_pack_leaves_no_file() {
        let root = tempfile::tempdir().unwrap();
        let mut writes = DirectWrites::start().unwrap();
        let mut file = PackFile::create(root.path(), &mut writes).unwrap();
        for (id, sealed) in blobs() {
            file.add(&mut writes, BlobType::Data, id, &sealed, 1)
                .unwrap();
        }
        file.abandon(&mut writes);
        let temp: Vec<_> = std::fs::read_dir(root.path().join(".tmp"))
            .unwrap()
            .collect();
        assert!(temp.is_empty(), "temporary files left: {temp:?}");
    }
}
