//! Writing files around the page cache, from aligned pieces that a thread of their
//! own writes with `O_DIRECT` while the caller goes on.
//!
//! A restore writes each media file once, and nothing reads it right after; a
//! backup writes each pack once. Through the cache, each page is copied there and
//! later written out. On the 2-vCPU benchmark VM, filling cache pages that no
//! deleted file had freed was the slowest part of a restore. Data written at
//! increasing offsets is staged in pieces of [`PIECE`] bytes. A hole, a skipped
//! damaged chunk or the unaligned tail ends the direct part, and the rest of the
//! file goes through the cache.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::backend::{clear_direct, set_direct, ALIGN};

/// Bytes staged and written per direct write.
const PIECE: usize = 1 << 20;
/// Pieces staged or being written at once.
const PIECES: usize = 4;
/// Jobs sent and not yet done, at most. Each keeps an open file, and the job that
/// ends a file carries no piece.
const MAX_JOBS: usize = 256;

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

/// The first failed write of one file, set by the write thread.
type Failure = Arc<Mutex<Option<io::Error>>>;

/// A callback that the write thread runs once a file's writes are done, with their
/// outcome: the first failed write, if any.
pub(crate) type Then = Box<dyn FnOnce(&File, io::Result<()>) + Send>;

enum Job {
    /// A write of the piece at `offset` of `file`.
    Write {
        file: File,
        offset: u64,
        piece: Piece,
        failure: Failure,
    },
    /// The end of `file`: the write of its staged tail, then `then`.
    Finish {
        file: File,
        tail: Option<Tail>,
        failure: Failure,
        then: Then,
    },
}

impl Job {
    /// Returns whether the job carries a piece, which the write thread sends back.
    fn holds_piece(&self) -> bool {
        match self {
            Job::Write { .. } => true,
            Job::Finish { tail, .. } => tail.is_some(),
        }
    }
}

/// The last piece of a file: `staged` bytes to write at `start`.
struct Tail {
    start: u64,
    piece: Piece,
    staged: usize,
}

impl Tail {
    /// Writes the aligned front directly and the rest through the cache.
    fn write(&mut self, file: &File) -> io::Result<()> {
        let bytes = self.piece.bytes();
        let aligned = self.staged / ALIGN * ALIGN;
        let front = if aligned > 0 {
            file.write_all_at(&bytes[..aligned], self.start)
        } else {
            Ok(())
        };
        let tail = clear_direct(file).and_then(|()| {
            if aligned < self.staged {
                file.write_all_at(&bytes[aligned..self.staged], self.start + aligned as u64)
            } else {
                Ok(())
            }
        });
        front.and(tail)
    }
}

/// Runs on the write thread: writes each job's bytes in the order they came, and
/// reports each job done on `finished`, with its piece if it held one.
fn write_jobs(queued: Receiver<Job>, finished: Sender<Option<Piece>>) {
    for job in queued {
        let piece = match job {
            Job::Write {
                file,
                offset,
                mut piece,
                failure,
            } => {
                if let Err(e) = file.write_all_at(piece.bytes(), offset) {
                    failure.lock().expect("failure lock").get_or_insert(e);
                }
                Some(piece)
            }
            Job::Finish {
                file,
                mut tail,
                failure,
                then,
            } => {
                let written = failed(&failure).and_then(|()| match &mut tail {
                    Some(tail) => tail.write(&file),
                    None => Ok(()),
                });
                then(&file, written);
                tail.map(|tail| tail.piece)
            }
        };
        if finished.send(piece).is_err() {
            break;
        }
    }
}

/// The thread that writes staged pieces, and the pieces it does not hold. Kept from
/// one file to the next, so that the pieces' pages are touched once.
pub(crate) struct DirectWrites {
    jobs: Option<Sender<Job>>,
    done: Receiver<Option<Piece>>,
    free: Vec<Piece>,
    /// Jobs sent and not yet reported done.
    jobs_in_flight: usize,
    /// Pieces carried by the jobs in flight.
    pieces_in_flight: usize,
    thread: Option<JoinHandle<()>>,
}

impl DirectWrites {
    pub(crate) fn start() -> io::Result<Self> {
        let (jobs, queued) = channel::<Job>();
        let (finished, done) = channel();
        let thread = std::thread::Builder::new()
            .name("haven-direct-write".into())
            .spawn(move || {
                if let Err(e) = crate::short_slice::ask_short_slice() {
                    tracing::debug!(
                        "failed to request a short time slice for the write thread: {e}"
                    );
                }
                write_jobs(queued, finished)
            })?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            free: Vec::new(),
            jobs_in_flight: 0,
            pieces_in_flight: 0,
            thread: Some(thread),
        })
    }

    /// Returns a piece to fill, waiting for a write to finish when all are in use.
    fn take(&mut self) -> io::Result<Piece> {
        loop {
            if let Some(piece) = self.free.pop() {
                return Ok(piece);
            }
            if self.pieces_in_flight < PIECES {
                return Ok(Piece::new());
            }
            self.wait_one()?;
        }
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        if self.jobs_in_flight >= MAX_JOBS {
            self.wait_one()?;
        }
        let holds_piece = job.holds_piece();
        let jobs = self.jobs.as_ref().expect("the writer runs until drop");
        jobs.send(job).map_err(|_| stopped())?;
        self.jobs_in_flight += 1;
        self.pieces_in_flight += usize::from(holds_piece);
        Ok(())
    }

    /// Waits for every job sent: the writes, and the callbacks of ended files.
    pub(crate) fn wait_all(&mut self) -> io::Result<()> {
        while self.jobs_in_flight > 0 {
            self.wait_one()?;
        }
        Ok(())
    }

    fn wait_one(&mut self) -> io::Result<()> {
        let Ok(piece) = self.done.recv() else {
            // The thread is gone, and with it every job in flight.
            self.jobs_in_flight = 0;
            self.pieces_in_flight = 0;
            return Err(stopped());
        };
        self.jobs_in_flight -= 1;
        if let Some(piece) = piece {
            self.pieces_in_flight -= 1;
            self.free.push(piece);
        }
        Ok(())
    }

    /// Runs every job sent, then stops the thread. Fails if the thread panicked, in
    /// which case some jobs may not have run.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        drop(self.jobs.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(io::Error::other("the direct write thread panicked")),
            _ => Ok(()),
        }
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

/// Returns the first failed write stored in `failure`.
fn failed(failure: &Failure) -> io::Result<()> {
    match failure.lock().expect("failure lock").take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn stopped() -> io::Error {
    io::Error::other("the direct write thread stopped")
}

/// The state of one file written at increasing offsets: the piece being filled,
/// the file offset it starts at (aligned) and how many bytes are in it. Without a
/// piece, writes go through the cache.
pub(crate) struct DirectStream {
    piece: Option<Piece>,
    start: u64,
    staged: usize,
    failure: Failure,
}

impl DirectStream {
    /// Writes through the cache.
    pub(crate) fn buffered() -> Self {
        Self {
            piece: None,
            start: 0,
            staged: 0,
            failure: Failure::default(),
        }
    }

    /// Writes `file`, new and empty, around the cache if its filesystem takes
    /// `O_DIRECT`, and through it otherwise.
    pub(crate) fn direct(file: &File, writes: &mut DirectWrites) -> io::Result<Self> {
        if set_direct(file, true).is_err() {
            return Ok(Self::buffered());
        }
        Ok(Self {
            piece: Some(writes.take()?),
            ..Self::buffered()
        })
    }

    /// Writes `data` at `offset`. Data that does not follow the previous write ends
    /// the direct part.
    pub(crate) fn write_at(
        &mut self,
        file: &File,
        writes: &mut DirectWrites,
        mut data: &[u8],
        offset: u64,
    ) -> io::Result<()> {
        if self.piece.is_some() && self.start + self.staged as u64 != offset {
            self.end(file, writes)?;
        }
        let Some(piece) = &mut self.piece else {
            return file.write_all_at(data, offset);
        };
        while !data.is_empty() {
            let copied = data.len().min(PIECE - self.staged);
            piece.bytes()[self.staged..self.staged + copied].copy_from_slice(&data[..copied]);
            self.staged += copied;
            data = &data[copied..];
            if self.staged == PIECE {
                failed(&self.failure)?;
                let full = std::mem::replace(piece, writes.take()?);
                let job = Job::Write {
                    file: file.try_clone()?,
                    offset: self.start,
                    piece: full,
                    failure: self.failure.clone(),
                };
                writes.send(job)?;
                self.start += PIECE as u64;
                self.staged = 0;
            }
        }
        Ok(())
    }

    /// Waits for the pieces in flight, then writes what is staged: its aligned front
    /// directly, the rest through the cache. Writes after it go through the cache.
    pub(crate) fn end(&mut self, file: &File, writes: &mut DirectWrites) -> io::Result<()> {
        let Some(piece) = self.piece.take() else {
            return Ok(());
        };
        let waited = writes.wait_all();
        let mut tail = Tail {
            start: self.start,
            piece,
            staged: self.staged,
        };
        let written = waited
            .and_then(|()| failed(&self.failure))
            .and_then(|()| tail.write(file));
        writes.free.push(tail.piece);
        written
    }

    /// Hands the rest of the file to the write thread, which writes it after the
    /// pieces before it, then runs `then` on the file.
    pub(crate) fn finish(
        mut self,
        file: &File,
        writes: &mut DirectWrites,
        then: Then,
    ) -> io::Result<()> {
        let tail = self.piece.take().map(|piece| Tail {
            start: self.start,
            piece,
            staged: self.staged,
        });
        let job = Job::Finish {
            file: file.try_clone()?,
            tail,
            failure: self.failure.clone(),
            then,
        };
        writes.send(job)
    }

    /// Waits for the pieces in flight after a failed write, and takes back the
    /// staged piece for the next file.
    pub(crate) fn abandon(&mut self, writes: &mut DirectWrites) {
        if let Some(piece) = self.piece.take() {
            let _ = writes.wait_all();
            writes.free.push(piece);
        }
    }
}

/// A [`DirectStream`] with the file and the write thread it uses.
pub(crate) struct FileWriter<'a> {
    file: &'a File,
    writes: Option<&'a mut DirectWrites>,
    stream: DirectStream,
}

impl<'a> FileWriter<'a> {
    /// Writes `file` through the cache.
    pub(crate) fn buffered(file: &'a File) -> Self {
        Self {
            file,
            writes: None,
            stream: DirectStream::buffered(),
        }
    }

    /// Writes `file`, new and empty, around the cache where its filesystem allows.
    pub(crate) fn direct(file: &'a File, writes: &'a mut DirectWrites) -> io::Result<Self> {
        let stream = DirectStream::direct(file, writes)?;
        Ok(Self {
            file,
            writes: Some(writes),
            stream,
        })
    }

    pub(crate) fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        match &mut self.writes {
            Some(writes) => self.stream.write_at(self.file, writes, data, offset),
            None => self.file.write_all_at(data, offset),
        }
    }

    pub(crate) fn end_direct(&mut self) -> io::Result<()> {
        match &mut self.writes {
            Some(writes) => self.stream.end(self.file, writes),
            None => Ok(()),
        }
    }

    /// Ends the file. With the write thread, hands the rest of the file to it, which
    /// runs `then` after the file's writes. Without one, runs `then` here.
    pub(crate) fn finish(mut self, then: Then) -> io::Result<()> {
        match self.writes.take() {
            Some(writes) => {
                let stream = std::mem::replace(&mut self.stream, DirectStream::buffered());
                stream.finish(self.file, writes, then)
            }
            None => {
                then(self.file, Ok(()));
                Ok(())
            }
        }
    }
}

impl Drop for FileWriter<'_> {
    fn drop(&mut self) {
        if let Some(writes) = &mut self.writes {
            self.stream.abandon(writes);
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
            assert_eq!(writes.jobs_in_flight, 0);
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
        assert_eq!(writes.jobs_in_flight, 0);
    }

    /// A file finished on the write thread: `then` runs after the file's last
    /// write and receives the first failed write.
    #[test]
    fn finish_runs_after_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let mut writes = DirectWrites::start().unwrap();
        let data = pattern(2 * PIECE + 4321, 3);
        for writable in [true, false] {
            std::fs::write(&path, b"").unwrap();
            let file = File::options()
                .write(writable)
                .read(true)
                .open(&path)
                .unwrap();
            let mut stream = DirectStream::direct(&file, &mut writes).unwrap();
            // Into the read-only descriptor, one full piece and half of the next: the
            // full piece's failed write reaches `then`. With a second full piece, the
            // write thread could report it to `write_at` instead.
            let length = if writable {
                data.len()
            } else {
                PIECE + PIECE / 2
            };
            stream
                .write_at(&file, &mut writes, &data[..length], 0)
                .unwrap();
            let (report, outcome) = channel();
            let then: Then = Box::new(move |file: &File, written: io::Result<()>| {
                let len = file.metadata().unwrap().len();
                report.send((written.is_ok(), len)).unwrap();
            });
            stream.finish(&file, &mut writes, then).unwrap();
            let (ok, len) = outcome.recv().unwrap();
            assert_eq!(ok, writable);
            if writable {
                assert_eq!(len, data.len() as u64);
                assert!(std::fs::read(&path).unwrap() == data, "bytes differ");
            }
        }
        drop(writes);
    }

    /// `wait_all` returns only once the callbacks of ended files have run, also
    /// those of files whose jobs carry no piece.
    #[test]
    fn wait_all_waits_for_ended_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut writes = DirectWrites::start().unwrap();
        let ended = Arc::new(Mutex::new(Vec::new()));
        for n in 0..3u8 {
            let path = dir.path().join(format!("file{n}"));
            let file = File::create(&path).unwrap();
            // Through the cache, as on a filesystem without O_DIRECT, so the job
            // that ends the file carries no piece.
            let mut writer = FileWriter {
                file: &file,
                writes: Some(&mut writes),
                stream: DirectStream::buffered(),
            };
            writer.write_at(&pattern(5000, n), 0).unwrap();
            let ended = ended.clone();
            let then: Then = Box::new(move |_: &File, written: io::Result<()>| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                ended.lock().unwrap().push((n, written.is_ok()));
            });
            writer.finish(then).unwrap();
        }
        writes.wait_all().unwrap();
        assert_eq!(
            *ended.lock().unwrap(),
            vec![(0, true), (1, true), (2, true)]
        );
        writes.finish().unwrap();
    }
}
