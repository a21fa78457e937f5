//! FastCDC chunks of a stream, read straight into the buffers they are handed out in.

use std::io::{self, Read};

use super::gear::CutSearch;
use super::Chunk;
use crate::buffers::BufferPool;
use crate::config::RepoConfig;

/// The pool that a chunker takes the buffers of long chunks from.
pub(crate) struct ChunkPool {
    pub buffers: BufferPool,
    /// Chunks at least this long are handed out in buffers from `buffers`.
    pub from: usize,
    /// Bytes left free before each chunk in a buffer from `buffers`.
    pub head: usize,
}

/// Bytes read at a time past a chunk's first `min` bytes. A cut is searched after
/// each read, and the bytes read past it move to the next chunk's buffer.
const READ_STEP: usize = 256 * 1024;

/// FastCDC over a buffer with the next chunk and the bytes read past it.
///
/// The cut points are those of `fastcdc::v2020::StreamCDC` with the same settings
/// (see [`super::gear`]). `StreamCDC` zeroes a buffer of the maximum chunk size for
/// every file and shifts it after every chunk. On a folder of small files that
/// memory traffic took two thirds of a backup's CPU time. Here the file is read in
/// steps and the search goes on after each. With a pool, the buffer is one of the
/// pool's, and a long chunk is handed out in it: only the bytes read past the cut
/// are copied, into the next buffer. Before, each chunk was copied out of a buffer
/// of two maximum-size chunks, and the bytes left over moved to its front at each
/// refill: a tenth of a second per 500 MB on the reading thread, which is the
/// longest path of a backup.
pub(crate) struct ContentDefined<R: Read> {
    source: R,
    /// `head` free bytes, then the next chunk's bytes and any read past it.
    buffer: Vec<u8>,
    head: usize,
    /// Stream offset of `buffer[head]`.
    offset: u64,
    eof: bool,
    min: usize,
    avg: u32,
    max: usize,
    seed: u64,
    /// Made for the first chunk longer than `min`, so small files do not build it.
    search: Option<CutSearch>,
    pool: Option<ChunkPool>,
}

impl<R: Read> ContentDefined<R> {
    pub fn new(source: R, config: &RepoConfig, seed: u64) -> Self {
        ContentDefined {
            source,
            buffer: Vec::new(),
            head: 0,
            offset: 0,
            eof: false,
            min: config.chunk_min as usize,
            avg: config.chunk_avg,
            max: config.chunk_max as usize,
            seed,
            search: None,
            pool: None,
        }
    }

    /// Reads through `buffer`, kept from an earlier file, and hands out chunks of at
    /// least `pool.from` bytes in buffers of `pool.buffers`.
    pub fn reuse(&mut self, mut buffer: Vec<u8>, pool: ChunkPool) {
        if buffer.capacity() < pool.head + self.max {
            buffer = pool.buffers.take();
        }
        buffer.clear();
        buffer.resize(pool.head, 0);
        self.buffer = buffer;
        self.head = pool.head;
        self.pool = Some(pool);
    }

    /// Returns the reading buffer for the next file.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buffer
    }

    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        loop {
            let read = self.buffer.len() - self.head;
            if read == 0 && self.eof {
                return Ok(None);
            }
            let complete = self.eof || read >= self.max;
            let window = &self.buffer[self.head..self.head + read.min(self.max)];
            let cut = if window.len() <= self.min {
                complete.then_some(window.len())
            } else {
                let (min, avg, seed) = (self.min as u32, self.avg, self.seed);
                self.search
                    .get_or_insert_with(|| CutSearch::new(min, avg, seed))
                    .cut(window, self.offset, complete)
            };
            match cut {
                Some(length) => return Ok(Some(self.split(length))),
                None => self.read_more(read)?,
            }
        }
    }

    /// Reads the next step of the stream after the `read` bytes of the buffer.
    fn read_more(&mut self, read: usize) -> io::Result<()> {
        let target = if read < self.min {
            self.min + READ_STEP
        } else {
            read + READ_STEP
        };
        let want = target.min(self.max) - read;
        let got = (&mut self.source)
            .take(want as u64)
            .read_to_end(&mut self.buffer)?;
        self.eof = got < want;
        Ok(())
    }

    /// Hands out the first `length` bytes as a chunk and keeps the rest.
    fn split(&mut self, length: usize) -> Chunk {
        self.offset += length as u64;
        let end = self.head + length;
        match &self.pool {
            Some(pool) if length >= pool.from => {
                let mut next = pool.buffers.take();
                next.resize(pool.head, 0);
                next.extend_from_slice(&self.buffer[end..]);
                self.buffer.truncate(end);
                Chunk {
                    buffer: std::mem::replace(&mut self.buffer, next),
                    head: pool.head,
                }
            }
            _ => {
                let chunk = self.buffer[self.head..end].to_vec();
                self.buffer.drain(self.head..end);
                chunk.into()
            }
        }
    }
}
