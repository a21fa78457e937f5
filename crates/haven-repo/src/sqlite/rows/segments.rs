//! A byte stream sealed in segments, so a state file of tens of MB is written and
//! read without holding it whole in memory.
//!
//! The stream starts with [`MAGIC`]. Each segment is a flag byte (1 for the last
//! segment, 0 for the others), the sealed length as a little-endian u32, and the
//! sealed plaintext. The associated data binds the segment's index, its flag and the
//! database path, so a segment cannot be moved, dropped, repeated or marked last
//! without failing authentication, and a stream that ends before its last segment is
//! damaged.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use haven_crypto::{SecretKey, AEAD_OVERHEAD, NONCE_LEN};

use crate::keys::associated_data;

/// First bytes of a segmented state file. A file without them is a single sealed
/// message, the layout state files had before.
pub(crate) const MAGIC: &[u8; 8] = b"hvn-rs\x00\x02";
/// Plaintext bytes per segment.
pub(crate) const SEGMENT_LEN: usize = 1 << 20;

const LAST: u8 = 1;
const MORE: u8 = 0;

fn segment_aad(path: &Path, index: u64, flag: u8) -> Vec<u8> {
    let mut id = Vec::with_capacity(9 + path.as_os_str().len());
    id.extend_from_slice(&index.to_le_bytes());
    id.push(flag);
    id.extend_from_slice(path.as_os_str().as_bytes());
    associated_data("sqlite-row-state/segment", &id)
}

/// Seals what is written to it in segments of `segment_len` bytes and writes them to
/// `out`. [`SegmentWriter::finish`] seals the last segment.
pub(crate) struct SegmentWriter<'a, W: Write> {
    out: W,
    key: &'a SecretKey,
    path: &'a Path,
    segment_len: usize,
    /// Room for the nonce, then the plaintext of the segment being filled.
    buffer: Vec<u8>,
    index: u64,
    written: u64,
}

impl<'a, W: Write> SegmentWriter<'a, W> {
    pub fn new(
        mut out: W,
        key: &'a SecretKey,
        path: &'a Path,
        segment_len: usize,
    ) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        let mut buffer = Vec::with_capacity(segment_len + AEAD_OVERHEAD);
        buffer.resize(NONCE_LEN, 0);
        Ok(Self {
            out,
            key,
            path,
            segment_len,
            buffer,
            index: 0,
            written: MAGIC.len() as u64,
        })
    }

    fn seal_segment(&mut self, flag: u8) -> io::Result<()> {
        let aad = segment_aad(self.path, self.index, flag);
        haven_crypto::seal_in_place(self.key, &aad, &mut self.buffer);
        let len = u32::try_from(self.buffer.len()).expect("a segment is far below 4 GiB");
        self.out.write_all(&[flag])?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.buffer)?;
        self.written += 5 + u64::from(len);
        self.index += 1;
        self.buffer.clear();
        self.buffer.resize(NONCE_LEN, 0);
        Ok(())
    }

    /// Seals the last segment and returns the output and the bytes written to it.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.seal_segment(LAST)?;
        Ok((self.out, self.written))
    }
}

impl<W: Write> Write for SegmentWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = NONCE_LEN + self.segment_len - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == NONCE_LEN + self.segment_len {
            self.seal_segment(MORE)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reason a segmented stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SegmentProblem {
    /// Failed authentication, ended early, or has bytes after its last segment.
    Damaged,
    Unreadable(String),
}

/// Reads and opens the segments of a stream whose [`MAGIC`] was already read. It
/// reports the end of the stream only after an authenticated last segment and the end
/// of `source`.
pub(crate) struct SegmentReader<'a, R: Read> {
    source: R,
    key: &'a SecretKey,
    path: &'a Path,
    max_segment: usize,
    buffer: Vec<u8>,
    /// The part of `buffer` not yet returned.
    plaintext: std::ops::Range<usize>,
    index: u64,
    last_seen: bool,
    /// Set when a read failed. A decoder may wrap the error that reaches the caller,
    /// so the caller asks here for the reason.
    problem: Option<SegmentProblem>,
}

impl<'a, R: Read> SegmentReader<'a, R> {
    pub fn new(source: R, key: &'a SecretKey, path: &'a Path, max_segment: usize) -> Self {
        Self {
            source,
            key,
            path,
            max_segment,
            buffer: Vec::new(),
            plaintext: 0..0,
            index: 0,
            last_seen: false,
            problem: None,
        }
    }

    /// Returns why the last failed read failed, if the stream was at fault.
    pub fn problem(&self) -> Option<&SegmentProblem> {
        self.problem.as_ref()
    }

    fn fail(&mut self, problem: SegmentProblem) -> io::Error {
        let error = io::Error::other(match &problem {
            SegmentProblem::Damaged => "the sealed segments are damaged".to_string(),
            SegmentProblem::Unreadable(reason) => reason.clone(),
        });
        self.problem = Some(problem);
        error
    }

    /// Reads exactly `buf.len()` bytes. An early end of the source is damage.
    fn read_exact_or_damaged(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self.source.read_exact(buf) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.fail(SegmentProblem::Damaged))
            }
            Err(e) => Err(self.fail(SegmentProblem::Unreadable(e.to_string()))),
        }
    }

    /// Opens the next segment into `buffer`. Returns false at the end of the stream.
    fn next_segment(&mut self) -> io::Result<bool> {
        if self.last_seen {
            let mut extra = [0u8; 1];
            return match self.source.read(&mut extra) {
                Ok(0) => Ok(false),
                Ok(_) => Err(self.fail(SegmentProblem::Damaged)),
                Err(e) => Err(self.fail(SegmentProblem::Unreadable(e.to_string()))),
            };
        }
        let mut header = [0u8; 5];
        self.read_exact_or_damaged(&mut header)?;
        let flag = header[0];
        let len = u32::from_le_bytes(header[1..].try_into().expect("four bytes")) as usize;
        if flag > LAST || len < AEAD_OVERHEAD || len > self.max_segment + AEAD_OVERHEAD {
            return Err(self.fail(SegmentProblem::Damaged));
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.resize(len, 0);
        let read = self.read_exact_or_damaged(&mut buffer);
        self.buffer = buffer;
        read?;
        let aad = segment_aad(self.path, self.index, flag);
        match haven_crypto::open_in_place(self.key, &aad, &mut self.buffer) {
            Ok(range) => self.plaintext = range,
            Err(_) => return Err(self.fail(SegmentProblem::Damaged)),
        }
        self.index += 1;
        self.last_seen = flag == LAST;
        Ok(true)
    }
}

impl<R: Read> Read for SegmentReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.plaintext.is_empty() {
            if !self.next_segment()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plaintext.len());
        let start = self.plaintext.start;
        out[..n].copy_from_slice(&self.buffer[start..start + n]);
        self.plaintext.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes([7; 32])
    }

    fn sealed(data: &[u8], segment_len: usize) -> Vec<u8> {
        let key = key();
        let mut writer =
            SegmentWriter::new(Vec::new(), &key, Path::new("/a/db"), segment_len).unwrap();
        writer.write_all(data).unwrap();
        let (out, written) = writer.finish().unwrap();
        assert_eq!(written, out.len() as u64);
        out
    }

    fn opened(stream: &[u8], path: &str) -> Result<Vec<u8>, SegmentProblem> {
        let key = key();
        assert_eq!(&stream[..MAGIC.len()], MAGIC);
        let mut reader = SegmentReader::new(&stream[MAGIC.len()..], &key, Path::new(path), 16);
        let mut out = Vec::new();
        match reader.read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(_) => Err(reader.problem().cloned().expect("a failed read names why")),
        }
    }

    /// Offsets of each segment's header in a stream of `segment_len`-byte segments.
    fn segment_starts(stream: &[u8]) -> Vec<usize> {
        let mut starts = Vec::new();
        let mut at = MAGIC.len();
        while at < stream.len() {
            starts.push(at);
            let len = u32::from_le_bytes(stream[at + 1..at + 5].try_into().unwrap()) as usize;
            at += 5 + len;
        }
        starts
    }

    #[test]
    fn round_trips_across_segment_boundaries() {
        for len in [0, 1, 15, 16, 17, 48, 100] {
            let data: Vec<u8> = (0..len as u8).collect();
            let stream = sealed(&data, 16);
            assert_eq!(segment_starts(&stream).len(), len / 16 + 1, "{len} bytes");
            assert_eq!(opened(&stream, "/a/db").unwrap(), data, "{len} bytes");
        }
    }

    #[test]
    fn damaged_streams_report_damage() {
        let data = vec![9u8; 50];
        let stream = sealed(&data, 16);
        let starts = segment_starts(&stream);
        let last = *starts.last().unwrap();

        let mut edited = stream.clone();
        edited[starts[1] + 20] ^= 1;
        let without_last = stream[..last].to_vec();
        let truncated = stream[..stream.len() - 1].to_vec();
        let mut trailing = stream.clone();
        trailing.push(0);
        let mut dropped = stream[..starts[1]].to_vec();
        dropped.extend_from_slice(&stream[starts[2]..]);
        let mut swapped = stream[..starts[1]].to_vec();
        swapped.extend_from_slice(&stream[starts[2]..starts[3]]);
        swapped.extend_from_slice(&stream[starts[1]..starts[2]]);
        swapped.extend_from_slice(&stream[starts[3]..]);
        let mut marked_last = stream[..starts[1]].to_vec();
        marked_last[starts[0]] = LAST;

        for (what, damaged) in [
            ("edited", edited),
            ("without its last segment", without_last),
            ("truncated", truncated),
            ("with a trailing byte", trailing),
            ("with a segment dropped", dropped),
            ("with two segments swapped", swapped),
            ("with a middle segment marked last", marked_last),
        ] {
            assert_eq!(
                opened(&damaged, "/a/db"),
                Err(SegmentProblem::Damaged),
                "a stream {what}"
            );
        }
        assert_eq!(
            opened(&sealed(&[9u8; 32], 32), "/a/db"),
            Err(SegmentProblem::Damaged),
            "a segment longer than the reader's maximum"
        );
        assert_eq!(
            opened(&stream, "/b/db"),
            Err(SegmentProblem::Damaged),
            "a stream read for another path"
        );
    }
}
