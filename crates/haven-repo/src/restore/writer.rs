//! Writing a restored file, around the page cache where that pays.
//!
//! A restore writes each file once, and nothing reads the media right after. Through
//! the cache, each page is copied there and later written out; on the 2-vCPU
//! benchmark VM, filling cache pages that no deleted file had freed was the slowest
//! part of a restore. A file of [`MIN_DIRECT_FILE`] bytes or more that is not a
//! database is written with `O_DIRECT`: its data is staged in aligned pieces, which
//! a thread of their own writes while the restore goes on. A hole, a skipped damaged
//! chunk or the unaligned tail ends the direct part, and the rest of the file goes
//! through the cache.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use crate::backend::{clear_direct, set_direct, ALIGN};

/// Smallest file written around the cache.
pub(super) const MIN_DIRECT_FILE: u64 = 1 << 20;
/// Bytes staged and written per direct write.
const PIECE: usize = 1 << 20;
/// Pieces staged or being written at once.
const PIECES: usize = 4;

/// A staging buffer with an aligned piece inside.
struct Piece(Vec<u8>);

impl Piece {
    fn new() -> Self {
        Self(vec![0u8; PIECE + ALIGN])
    }

    fn bytes(&mut self) -> &mut [u8] {
        let start = self.0.as_ptr().align_offset(ALIGN);
        &mut self.0[start..start + PIECE]
    }
}

/// A piece to write at `offset` of `file`.
struct Job {
    file: File,
    offset: u64,
    piece: Piece,
}

/// The thread that writes staged pieces, and the pieces it does not hold. Kept from
/// one file to the next, so that the pieces' pages are touched once.
pub(super) struct DirectWrites {
    jobs: Option<Sender<Job>>,
    done: Receiver<(Piece, io::Result<()>)>,
    free: Vec<Piece>,
    in_flight: usize,
    thread: Option<JoinHandle<()>>,
}

impl DirectWrites {
    pub(super) fn start() -> io::Result<Self> {
        let (jobs, queued) = channel::<Job>();
        let (finished, done) = channel();
        let thread = std::thread::Builder::new()
            .name("haven-restore-write".into())
            .spawn(move || {
                for mut job in queued {
                    let result = job.file.write_all_at(job.piece.bytes(), job.offset);
                    if finished.send((job.piece, result)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            free: Vec::new(),
            in_flight: 0,
            thread: Some(thread),
        })
    }

    /// Returns a piece to fill, waiting for a write to finish when all are in use.
    fn take(&mut self) -> io::Result<Piece> {
        if let Some(piece) = self.free.pop() {
            return Ok(piece);
        }
        if self.in_flight < PIECES {
            return Ok(Piece::new());
        }
        self.wait_one()?;
        Ok(self.free.pop().expect("a finished write returns its piece"))
    }

    fn submit(&mut self, file: &File, offset: u64, piece: Piece) -> io::Result<()> {
        let job = Job {
            file: file.try_clone()?,
            offset,
            piece,
        };
        let jobs = self.jobs.as_ref().expect("the writer runs until drop");
        jobs.send(job).map_err(|_| stopped())?;
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for every write in flight, and returns the first error among them.
    fn wait_all(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        while self.in_flight > 0 {
            if let Err(e) = self.wait_one() {
                first = first.and(Err(e));
            }
        }
        first
    }

    fn wait_one(&mut self) -> io::Result<()> {
        let (piece, result) = self.done.recv().map_err(|_| stopped())?;
        self.in_flight -= 1;
        self.free.push(piece);
        result
    }
}

impl Drop for DirectWrites {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("the restore's write thread stopped")
}

/// Writes one file's data at increasing offsets.
pub(super) struct FileWriter<'a> {
    file: &'a File,
    /// While writing directly: the write thread, the piece being filled, the file
    /// offset it starts at (aligned) and how many bytes are in it.
    direct: Option<(&'a mut DirectWrites, Piece, u64, usize)>,
}

impl<'a> FileWriter<'a> {
    /// Writes `file` through the cache.
    pub(super) fn buffered(file: &'a File) -> Self {
        Self { file, direct: None }
    }

    /// Writes `file`, new and empty, around the cache if its filesystem takes
    /// `O_DIRECT`, and through it otherwise.
    pub(super) fn direct(file: &'a File, writes: &'a mut DirectWrites) -> io::Result<Self> {
        if set_direct(file, true).is_err() {
            return Ok(Self::buffered(file));
        }
        let piece = writes.take()?;
        Ok(Self {
            file,
            direct: Some((writes, piece, 0, 0)),
        })
    }

    /// Writes `data` at `offset`. Data that does not follow the previous write ends
    /// the direct part.
    pub(super) fn write_at(&mut self, mut data: &[u8], offset: u64) -> io::Result<()> {
        let follows =
            matches!(&self.direct, Some((_, _, start, held)) if start + *held as u64 == offset);
        if !follows {
            self.end_direct()?;
        }
        let Some((writes, piece, start, held)) = &mut self.direct else {
            return self.file.write_all_at(data, offset);
        };
        while !data.is_empty() {
            let taken = data.len().min(PIECE - *held);
            piece.bytes()[*held..*held + taken].copy_from_slice(&data[..taken]);
            *held += taken;
            data = &data[taken..];
            if *held == PIECE {
                let full = std::mem::replace(piece, writes.take()?);
                writes.submit(self.file, *start, full)?;
                *start += PIECE as u64;
                *held = 0;
            }
        }
        Ok(())
    }

    /// Waits for the pieces in flight, then writes what is staged: its aligned front
    /// directly, the rest through the cache. Writes after it go through the cache.
    pub(super) fn end_direct(&mut self) -> io::Result<()> {
        let Some((writes, mut piece, start, held)) = self.direct.take() else {
            return Ok(());
        };
        let written = writes.wait_all();
        let bytes = piece.bytes();
        let aligned = held / ALIGN * ALIGN;
        let front = match written {
            Ok(()) if aligned > 0 => self.file.write_all_at(&bytes[..aligned], start),
            other => other,
        };
        let tail = clear_direct(self.file).and_then(|()| {
            if aligned < held {
                self.file
                    .write_all_at(&bytes[aligned..held], start + aligned as u64)
            } else {
                Ok(())
            }
        });
        writes.free.push(piece);
        front.and(tail)
    }
}

impl Drop for FileWriter<'_> {
    /// Waits for the pieces in flight after a failed write, so that none of them
    /// reports into the next file.
    fn drop(&mut self) {
        if let Some((writes, piece, _, _)) = self.direct.take() {
            let _ = writes.wait_all();
            writes.free.push(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
            .collect()
    }

    /// Writes `parts` as (offset, length) and returns the file's bytes.
    fn write_parts(parts: &[(u64, usize)], writes: Option<&mut DirectWrites>) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let mut writer = match writes {
            Some(writes) => FileWriter::direct(&file, writes).unwrap(),
            None => FileWriter::buffered(&file),
        };
        for (n, &(offset, length)) in parts.iter().enumerate() {
            writer.write_at(&pattern(length, n as u8), offset).unwrap();
        }
        writer.end_direct().unwrap();
        drop(writer);
        drop(file);
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn direct_writes_match_buffered_ones() {
        let cases: Vec<Vec<(u64, usize)>> = vec![
            // In order, crossing pieces, with an unaligned tail.
            vec![(0, 700_000), (700_000, 900_001), (1_600_001, 3)],
            // Exactly one piece, then a hole and more data.
            vec![(0, PIECE), (PIECE as u64 + 8192, 5000)],
            // A hole in the middle of a piece.
            vec![(0, 10_000), (20_000, 2 * PIECE + 17)],
            // More pieces than the writer keeps at once.
            vec![(0, (PIECES + 3) * PIECE + 100)],
            // Nothing aligned at all.
            vec![(0, 100)],
        ];
        let mut writes = DirectWrites::start().unwrap();
        for parts in cases {
            let buffered = write_parts(&parts, None);
            let direct = write_parts(&parts, Some(&mut writes));
            assert_eq!(direct.len(), buffered.len(), "{parts:?}");
            assert!(direct == buffered, "bytes differ for {parts:?}");
            assert_eq!(writes.in_flight, 0);
        }
    }

    #[test]
    fn failed_piece_write_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        // A descriptor open for reading only: every write fails.
        let file = File::open(dir.path().join("file")).unwrap();
        let mut writes = DirectWrites::start().unwrap();
        let mut writer = FileWriter::direct(&file, &mut writes).unwrap();
        let data = pattern(3 * PIECE, 1);
        let result = writer.write_at(&data, 0).and_then(|()| writer.end_direct());
        assert!(
            result.is_err(),
            "writes into a read-only descriptor succeeded"
        );
        drop(writer);
        assert_eq!(writes.in_flight, 0);
    }
}
