//! Splitting a file into chunks: FastCDC for ordinary files, fixed pages for SQLite.

use std::io::{self, Read};

mod content_defined;
mod gear;

pub(crate) use content_defined::{ChunkPool, ContentDefined};

use crate::config::RepoConfig;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Returns the page size if `head` starts a SQLite database file. The page size is
/// the big-endian u16 at offset 16, where 1 means 65536.
pub fn sqlite_page_size(head: &[u8]) -> Option<usize> {
    if head.len() < 18 || &head[..16] != SQLITE_MAGIC {
        return None;
    }
    let raw = u16::from_be_bytes([head[16], head[17]]);
    let size = if raw == 1 { 65536 } else { raw as usize };
    (size.is_power_of_two() && (512..=65536).contains(&size)).then_some(size)
}

/// A chunk's bytes, `buffer[head..]`. A chunk from the consumer's pool starts with
/// `head` free bytes, so the consumer can put a header there without moving it.
pub(crate) struct Chunk {
    pub buffer: Vec<u8>,
    pub head: usize,
}

impl Chunk {
    pub fn bytes(&self) -> &[u8] {
        &self.buffer[self.head..]
    }

    /// Returns the bytes in a buffer of their own, moved to its front.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buffer.drain(..self.head);
        self.buffer
    }
}

impl From<Vec<u8>> for Chunk {
    fn from(buffer: Vec<u8>) -> Self {
        Chunk { buffer, head: 0 }
    }
}

/// Yields a file's chunks in order.
pub(crate) enum Chunker<R: Read> {
    ContentDefined(ContentDefined<R>),
    Fixed {
        source: io::BufReader<R>,
        size: usize,
        done: bool,
    },
}

/// Bytes read at once from a database cut into pages. Reading page by page took a
/// system call per 4 KiB page.
const FIXED_READ: usize = 256 * 1024;

impl<R: Read> Chunker<R> {
    /// Chooses fixed pages when `head` (the first bytes of the file) is a SQLite header.
    pub fn new(source: R, head: &[u8], config: &RepoConfig, seed: u64) -> Self {
        match sqlite_page_size(head) {
            Some(size) => Chunker::Fixed {
                source: io::BufReader::with_capacity(FIXED_READ, source),
                size,
                done: false,
            },
            None => Chunker::ContentDefined(ContentDefined::new(source, config, seed)),
        }
    }

    /// Reads through `buffer`, an empty buffer kept from an earlier file, and takes
    /// each chunk of at least `pool.from` bytes from `pool.buffers`, which the consumer
    /// refills. Fresh buffers for every file and chunk cost page faults on every byte.
    pub fn reuse(mut self, buffer: Vec<u8>, pool: ChunkPool) -> Self {
        if let Chunker::ContentDefined(cdc) = &mut self {
            cdc.reuse(buffer, pool);
        }
        self
    }

    /// Returns the reading buffer for the next file.
    pub fn into_buffer(self) -> Vec<u8> {
        match self {
            Chunker::ContentDefined(cdc) => cdc.into_buffer(),
            Chunker::Fixed { .. } => Vec::new(),
        }
    }

    /// Returns the next chunk, or `None` at end of file.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        match self {
            Chunker::ContentDefined(cdc) => cdc.next_chunk(),
            Chunker::Fixed { source, size, done } => {
                if *done {
                    return Ok(None);
                }
                let mut page = vec![0u8; *size];
                let mut filled = 0;
                while filled < page.len() {
                    match source.read(&mut page[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
                if filled < page.len() {
                    *done = true;
                    page.truncate(filled);
                }
                Ok((!page.is_empty()).then_some(page.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastcdc::v2020::{Normalization, StreamCDC};

    use crate::buffers::BufferPool;

    /// Returns at most `step` bytes per read, as a pipe or a slow disk may.
    struct ShortReads<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for ShortReads<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn pseudo_random(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn config(min: u32, avg: u32, max: u32) -> RepoConfig {
        RepoConfig {
            version: crate::FORMAT_VERSION,
            pack_size: 1 << 20,
            chunk_min: min,
            chunk_avg: avg,
            chunk_max: max,
            created: 0,
        }
    }

    /// Returns the chunks that `StreamCDC` cuts `data` into.
    fn stream_cdc(data: &[u8], (min, avg, max): (u32, u32, u32), seed: u64) -> Vec<Vec<u8>> {
        StreamCDC::with_level_and_seed(data, min, avg, max, Normalization::Level1, seed)
            .map(|chunk| chunk.unwrap().data)
            .collect()
    }

    #[test]
    fn cuts_where_stream_cdc_cuts() {
        let sizes = [(64, 256, 1024), (256, 1024, 4096), (4096, 16384, 65536)];
        let lengths = [0, 1, 63, 64, 65, 1000, 4096, 70_000, 300_000, 1_000_001];
        for (min, avg, max) in sizes {
            let config = config(min, avg, max);
            for (i, &length) in lengths.iter().enumerate() {
                let data = pseudo_random(length, 0x9E37_79B9_7F4A_7C15 + i as u64);
                let seed = i as u64 * 7;
                let expected = stream_cdc(&data, (min, avg, max), seed);
                for step in [1 << 30, 4093, 17] {
                    let mut chunker =
                        Chunker::new(ShortReads { data: &data, step }, &[], &config, seed);
                    let mut chunks = Vec::new();
                    while let Some(chunk) = chunker.next_chunk().unwrap() {
                        chunks.push(chunk.into_bytes());
                    }
                    assert_eq!(
                        chunks, expected,
                        "min {min} avg {avg} max {max} length {length} read step {step}"
                    );
                }
            }
        }
    }

    /// A stream of `max` bytes fills the first read, so the chunker learns of its
    /// end only after the last chunk was searched in a window not yet complete.
    #[test]
    fn stream_ending_where_read_ends() {
        let (min, avg, max) = (64, 256, 1024);
        let mut mismatches = Vec::new();
        for seed in 0..3000u64 {
            let data = pseudo_random(max as usize, seed * 31 + 7);
            let expected: Vec<usize> = stream_cdc(&data, (min, avg, max), seed)
                .iter()
                .map(Vec::len)
                .collect();
            let mut chunker = Chunker::new(data.as_slice(), &[], &config(min, avg, max), seed);
            let mut lengths = Vec::new();
            while let Some(chunk) = chunker.next_chunk().unwrap() {
                lengths.push(chunk.bytes().len());
            }
            if lengths != expected {
                mismatches.push(format!(
                    "seed {seed}: expected {expected:?}, got {lengths:?}"
                ));
            }
        }
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    #[test]
    fn pooled_chunks_leave_room_for_a_header() {
        let data = pseudo_random(200_000, 5);
        let config = config(64, 4096, 16384);
        let plain: Vec<Vec<u8>> = {
            let mut chunker = Chunker::new(data.as_slice(), &[], &config, 9);
            std::iter::from_fn(|| chunker.next_chunk().unwrap())
                .map(Chunk::into_bytes)
                .collect()
        };
        let pool = ChunkPool {
            buffers: BufferPool::new(16384 + 40, 4),
            from: 4096,
            head: 25,
        };
        let mut chunker = Chunker::new(data.as_slice(), &[], &config, 9).reuse(Vec::new(), pool);
        let (mut pooled, mut chunks) = (0, Vec::new());
        while let Some(chunk) = chunker.next_chunk().unwrap() {
            if chunk.bytes().len() >= 4096 {
                assert_eq!(chunk.head, 25);
                assert_eq!(chunk.buffer.capacity(), 16384 + 40, "not from the pool");
                pooled += 1;
            } else {
                assert_eq!(chunk.head, 0);
            }
            chunks.push(chunk.into_bytes());
        }
        assert!(
            pooled > 5 && pooled < chunks.len(),
            "{pooled} of {} pooled",
            chunks.len()
        );
        assert_eq!(chunks, plain);
    }

    #[test]
    fn sqlite_file_is_cut_into_pages() {
        let mut data = pseudo_random(4096 * 3 + 100, 3);
        data[..16].copy_from_slice(SQLITE_MAGIC);
        data[16..18].copy_from_slice(&4096u16.to_be_bytes());
        let mut chunker = Chunker::new(data.as_slice(), &data, &config(64, 256, 1024), 0);
        let mut lengths = Vec::new();
        while let Some(chunk) = chunker.next_chunk().unwrap() {
            lengths.push(chunk.bytes().len());
        }
        assert_eq!(lengths, [4096, 4096, 4096, 100]);
    }
}
