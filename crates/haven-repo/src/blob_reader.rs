//! Reading many data blobs in order with few storage requests.
//!
//! A restore needs a file's chunks in order. Reading them one range request at a time
//! costs one round trip per chunk, which for a database of 4 KiB pages on S3 or WebDAV
//! means tens of thousands of sequential requests. This reader merges chunks that sit
//! next to each other in one pack into one range read, and keeps several reads in
//! flight, while still yielding the blobs in the order asked for.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokio_util::task::AbortOnDropHandle;

use crate::buffers::BufferPool;
use crate::compress::Decoded;
use crate::error::{Damage, RepoError, Result};
use crate::id::ObjectId;
use crate::index::BlobLocation;
use crate::pack;
use crate::pack::BlobType;
use crate::Repository;

/// Largest gap between two blobs of one pack that one read still spans: reading a
/// few unused bytes costs less than a second request.
const MAX_GAP: u64 = 64 * 1024;
/// Largest single range read. With 4 MiB, the restore of the 1 GB benchmark folder
/// peaked at 92 to 95 MiB resident. With 2 MiB it peaked at 79 to 81 MiB, 0.1 to
/// 0.2 s slower.
const MAX_SPAN: u64 = 2 * 1024 * 1024;
/// Range reads in flight at once.
const PARALLEL_READS: usize = 8;
/// Shortest read given a pooled buffer. Shorter reads get buffers of their own size:
/// the blobs of scattered small files each keep their read's buffer while they wait.
const POOLED_SPAN: u64 = 1 << 20;
/// Free span buffers kept for the next reads.
const SPAN_BUFFERS_KEPT: usize = 4;

/// One range read of a pack and the blobs it covers, in request order.
struct Span {
    pack: ObjectId,
    start: u64,
    end: u64,
    /// Each blob's id, offset in the pack and sealed length.
    blobs: Vec<(ObjectId, u64, u64)>,
}

/// Blobs loaded by one read, each with its own result (damage is per blob).
pub(crate) type Loaded = Vec<(ObjectId, Result<Bytes>)>;

/// A unit of work: a range read, or a blob that no index lists.
enum Read {
    Span(Span),
    Unlisted(ObjectId),
}

impl Repository {
    /// Loads the data blobs `ids`. Yields batches of `(id, result)` that together
    /// follow the order of `ids`. Damage is reported per blob, as
    /// [`Repository::load_blob`] reports it; a storage error ends the stream.
    pub(crate) fn load_data_blobs(
        &self,
        ids: &[ObjectId],
    ) -> impl Stream<Item = Result<Loaded>> + Send + 'static {
        let reads = plan_reads(ids, |id| self.locate(id));
        let repo = self.clone();
        // Each read runs as its own task, so the reads in flight also decrypt and
        // decompress in parallel, not on the thread that consumes the stream.
        stream::iter(reads)
            .map(move |read| {
                let repo = repo.clone();
                // Aborted when the stream is dropped, so a restore that stops early
                // leaves no reads running.
                AbortOnDropHandle::new(tokio::spawn(async move { repo.perform(read).await }))
            })
            .buffered(PARALLEL_READS)
            .map(|joined| {
                joined.map_err(|e| RepoError::Pipeline(format!("a blob read task failed: {e}")))?
            })
    }

    async fn perform(&self, read: Read) -> Result<Loaded> {
        let span = match read {
            Read::Unlisted(id) => {
                return match self.load_blob(BlobType::Data, &id).await {
                    Err(error @ RepoError::Damaged { .. }) => Ok(vec![(id, Err(error))]),
                    Err(error) => Err(error),
                    Ok(data) => Ok(vec![(id, Ok(Bytes::from(data)))]),
                };
            }
            Read::Span(span) => span,
        };
        let path = pack::pack_path(&span.pack);
        let read = self.read_span(&path, &span).await?;
        let damage = |id: &ObjectId, reason: String| {
            let object = format!("blob {} in {path}", id.short());
            self.damaged(Damage::new(object, reason))
        };
        let Some((mut buffer, bytes)) = read else {
            let missing = |&(id, _, _)| (id, Err(damage(&id, "its pack file is missing".into())));
            return Ok(span.blobs.iter().map(missing).collect());
        };
        // Each blob is opened where the read put it; stored blobs stay there.
        let opened: Vec<_> = span
            .blobs
            .iter()
            .map(|&(id, offset, length)| {
                let from = bytes.start + (offset - span.start) as usize;
                let to = from + length as usize;
                if to > bytes.end {
                    let read = bytes.end.saturating_sub(from).min(length as usize);
                    let reason = format!("pack is truncated: read {read} of {length} bytes");
                    return Err(damage(&id, reason));
                }
                match pack::open_blob_in_place(
                    &self.keys,
                    BlobType::Data,
                    &id,
                    &mut buffer[from..to],
                ) {
                    Ok(Decoded::Within(data)) => {
                        Ok(Decoded::Within(from + data.start..from + data.end))
                    }
                    Ok(owned) => Ok(owned),
                    Err(reason) => Err(damage(&id, reason)),
                }
            })
            .collect();
        let shared = span_buffers().share(buffer);
        let loaded = span
            .blobs
            .iter()
            .zip(opened)
            .map(|(&(id, _, _), opened)| {
                let data = opened.map(|decoded| match decoded {
                    Decoded::Within(range) => shared.slice(range),
                    Decoded::Owned(data) => Bytes::from(data),
                });
                (id, data)
            })
            .collect();
        Ok(loaded)
    }

    /// Reads a span's bytes into a pooled buffer, and returns the buffer with the
    /// range that contains them. A pack cut short (by a failed upload or a damaged disk)
    /// gives the bytes it still has, so that the blobs before the cut load and only
    /// the ones after it count as damaged. A missing pack is `None`.
    async fn read_span(&self, path: &str, span: &Span) -> Result<Option<(Vec<u8>, Range<usize>)>> {
        let requested = span.end - span.start;
        let buffer = span_buffer(requested);
        let failure = match self
            .storage
            .read_range_into(path, span.start, requested, buffer)
            .await
        {
            Ok(Some((buffer, range))) if range.len() as u64 == requested => {
                return Ok(Some((buffer, range)))
            }
            Ok(None) => return Ok(None),
            Ok(Some(_)) => None,
            // Some services fail a range read that runs past the end of the object.
            Err(error) => Some(error),
        };
        let size = match self.storage.size(path).await? {
            Some(size) if size < span.end => size,
            None => return Ok(None),
            Some(_) => {
                return match failure {
                    Some(error) => Err(error),
                    None => Err(RepoError::Pipeline(format!(
                        "{path} returned fewer bytes than its size promises; retry the restore"
                    ))),
                }
            }
        };
        if size <= span.start {
            return Ok(Some((Vec::new(), 0..0)));
        }
        let rest = self
            .storage
            .read_range_into(
                path,
                span.start,
                size - span.start,
                span_buffer(size - span.start),
            )
            .await?;
        Ok(rest)
    }
}

/// Returns a buffer for a read of `length` bytes: from the pool for a long read, and
/// a new one for a short read, since every blob sliced from a buffer keeps all of it.
fn span_buffer(length: u64) -> Vec<u8> {
    if length >= POOLED_SPAN {
        span_buffers().take()
    } else {
        Vec::new()
    }
}

/// Returns the pool of buffers that span reads fill, shared by every restore in the
/// process. Each buffer returns when the last blob sliced from it is dropped. With a
/// new buffer for every read, the kernel mapped and zeroed fresh pages for each:
/// about a sixth of a restore's samples on the 2-vCPU benchmark VM.
fn span_buffers() -> &'static BufferPool {
    static POOL: OnceLock<BufferPool> = OnceLock::new();
    // Room for the alignment of direct reads on both ends.
    POOL.get_or_init(|| BufferPool::new(MAX_SPAN as usize + 2 * 4096, SPAN_BUFFERS_KEPT))
}

/// Groups `ids` into reads: each blob joins the previous read when it lies in the same
/// pack, after it, within [`MAX_GAP`], and the read stays within [`MAX_SPAN`].
fn plan_reads(ids: &[ObjectId], locate: impl Fn(&ObjectId) -> Option<BlobLocation>) -> Vec<Read> {
    let mut reads: Vec<Read> = Vec::new();
    for id in ids {
        let Some(location) = locate(id) else {
            reads.push(Read::Unlisted(*id));
            continue;
        };
        let end = location.offset + location.length;
        if let Some(Read::Span(span)) = reads.last_mut() {
            let joins = span.pack == location.pack
                && location.offset >= span.end
                && location.offset - span.end <= MAX_GAP
                && end - span.start <= MAX_SPAN;
            if joins {
                span.end = end;
                span.blobs.push((*id, location.offset, location.length));
                continue;
            }
        }
        reads.push(Read::Span(Span {
            pack: location.pack,
            start: location.offset,
            end,
            blobs: vec![(*id, location.offset, location.length)],
        }));
    }
    reads
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A blob's pack number, offset and length.
    type Place = (u8, u64, u64);

    fn id(n: u8) -> ObjectId {
        ObjectId([n; 32])
    }

    /// Plans reads for blobs given as (number, optional (pack, offset, length)) and
    /// returns each read's (start, end, blob count), with (0, 0, 1) for an unlisted blob.
    fn plan(places: &[(u8, Option<Place>)]) -> Vec<(u64, u64, usize)> {
        let map: HashMap<ObjectId, BlobLocation> = places
            .iter()
            .filter_map(|(n, place)| {
                place.map(|(pack, offset, length)| {
                    let location = BlobLocation {
                        pack: id(100 + pack),
                        blob_type: BlobType::Data,
                        offset,
                        length,
                        raw_length: length,
                    };
                    (id(*n), location)
                })
            })
            .collect();
        let ids: Vec<ObjectId> = places.iter().map(|(n, _)| id(*n)).collect();
        plan_reads(&ids, |i| map.get(i).cloned())
            .iter()
            .map(|read| match read {
                Read::Span(span) => (span.start, span.end, span.blobs.len()),
                Read::Unlisted(_) => (0, 0, 1),
            })
            .collect()
    }

    #[test]
    fn adjacent_blobs_share_one_read() {
        let reads = plan(&[
            (1, Some((0, 100, 50))),
            (2, Some((0, 150, 50))),
            (3, Some((0, 200 + MAX_GAP, 50))),
        ]);
        assert_eq!(reads, vec![(100, 250 + MAX_GAP, 3)]);
    }

    #[test]
    fn gap_pack_and_order_split_reads() {
        let reads = plan(&[
            (1, Some((0, 0, 10))),
            (2, Some((0, 11 + MAX_GAP, 10))),
            (3, Some((1, 21 + MAX_GAP, 10))),
            (4, Some((1, 0, 10))),
        ]);
        assert_eq!(reads.len(), 4, "{reads:?}");
    }

    #[test]
    fn reads_stay_within_max_span() {
        let chunk = MAX_SPAN / 2;
        let reads = plan(&[
            (1, Some((0, 0, chunk))),
            (2, Some((0, chunk, chunk))),
            (3, Some((0, 2 * chunk, 1))),
        ]);
        assert_eq!(
            reads,
            vec![(0, 2 * chunk, 2), (2 * chunk, 2 * chunk + 1, 1)]
        );
    }

    #[test]
    fn unlisted_blob_is_read_alone() {
        let reads = plan(&[(1, Some((0, 0, 10))), (2, None), (3, Some((0, 10, 10)))]);
        assert_eq!(reads, vec![(0, 10, 1), (0, 0, 1), (10, 20, 1)]);
    }
}
