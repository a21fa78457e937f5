//! Splitting a file into chunks: FastCDC for ordinary files, fixed pages for SQLite.

use std::io::{self, Read};

use fastcdc::v2020::{Normalization, StreamCDC};

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

/// Yields a file's chunks in order.
pub(crate) enum Chunker<R: Read> {
    ContentDefined(StreamCDC<R>),
    Fixed { source: R, size: usize, done: bool },
}

impl<R: Read> Chunker<R> {
    /// Chooses fixed pages when `head` (the first bytes of the file) is a SQLite header.
    pub fn new(source: R, head: &[u8], config: &RepoConfig, seed: u64) -> Self {
        match sqlite_page_size(head) {
            Some(size) => Chunker::Fixed {
                source,
                size,
                done: false,
            },
            None => Chunker::ContentDefined(StreamCDC::with_level_and_seed(
                source,
                config.chunk_min,
                config.chunk_avg,
                config.chunk_max,
                Normalization::Level1,
                seed,
            )),
        }
    }

    /// Returns the next chunk, or `None` at end of file.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self {
            Chunker::ContentDefined(cdc) => match cdc.next() {
                None => Ok(None),
                Some(Ok(chunk)) => Ok(Some(chunk.data)),
                Some(Err(e)) => Err(e.into()),
            },
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
                Ok((!page.is_empty()).then_some(page))
            }
        }
    }
}
