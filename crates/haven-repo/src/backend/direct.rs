//! Large objects written into a local folder with `O_DIRECT`.
//!
//! Every object is synced to disk before it counts as written, so a pack that goes
//! through the page cache is copied there only to be written out at once. On the
//! 2-vCPU benchmark VM that copy took about a quarter of a first backup's CPU samples, and
//! `dd` wrote 1.6 GB/s with `O_DIRECT` against 350 MB/s through the cache.
//! Direct writes skip the copy and leave the cache to the app's own files.
//!
//! Like OpenDAL's local folder service, an object is written under `.tmp/`, synced
//! and renamed into place, so a killed writer never leaves a partial object under
//! its final name. A filesystem without `O_DIRECT` is reported as unsupported, and
//! the caller writes through OpenDAL instead.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Alignment of direct writes: offsets, lengths and memory. 4096 covers devices
/// with 512-byte and 4096-byte logical blocks.
pub(crate) const ALIGN: usize = 4096;
/// Bytes copied into the aligned buffer and written per call.
const PIECE: usize = 1 << 20;
/// Objects below this size go through OpenDAL: a direct write saves little there.
pub(crate) const MIN_DIRECT_LEN: usize = 1 << 20;

thread_local! {
    /// The aligned buffer of this thread, kept between writes so that its pages are
    /// touched once.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The outcome of a direct write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Direct {
    Written,
    /// The folder's filesystem does not take `O_DIRECT`, so nothing was written.
    Unsupported,
}

/// Writes `bytes` as the object `path` under the local folder `root`.
pub(crate) fn write(root: &Path, path: &str, bytes: &[u8]) -> io::Result<Direct> {
    let temp_dir = root.join(".tmp");
    std::fs::create_dir_all(&temp_dir)?;
    let temp = TempFile(temp_dir.join(temp_name()));
    let file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(&temp.0)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(Direct::Unsupported),
        Err(e) => return Err(e),
    };
    match write_aligned(&file, bytes) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(Direct::Unsupported),
        other => other?,
    }
    file.sync_all()?;
    drop(file);
    let target = root.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(&temp.0, &target)?;
    std::mem::forget(temp);
    Ok(Direct::Written)
}

/// Writes the aligned front of `bytes` directly, then the rest, under one block,
/// through the page cache.
fn write_aligned(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    let aligned = bytes.len() / ALIGN * ALIGN;
    BUFFER.with_borrow_mut(|buffer| {
        if buffer.len() < PIECE + ALIGN {
            *buffer = vec![0u8; PIECE + ALIGN];
        }
        let start = buffer.as_ptr().align_offset(ALIGN);
        let staging = &mut buffer[start..start + PIECE];
        for piece in bytes[..aligned].chunks(PIECE) {
            staging[..piece.len()].copy_from_slice(piece);
            file.write_all(&staging[..piece.len()])?;
        }
        Ok::<_, io::Error>(())
    })?;
    if aligned < bytes.len() {
        clear_direct(file)?;
        file.write_all(&bytes[aligned..])?;
    }
    Ok(())
}

/// Turns `O_DIRECT` off for the rest of the file, whose length is not aligned.
pub(crate) fn clear_direct(file: &File) -> io::Result<()> {
    set_direct(file, false)
}

/// Turns `O_DIRECT` on or off for the file's descriptor.
pub(crate) fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by `file` for the whole call.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    // SAFETY: as above. F_SETFL changes only the descriptor's status flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads `length` bytes at `offset` of the object `path` under `root` into `buffer`
/// with `O_DIRECT`, and returns the range of `buffer` that contains them. A file that
/// ends early gives a shorter range; a missing file gives `None`. On a filesystem
/// without `O_DIRECT` the same read goes through the cache.
///
/// The whole aligned span around the range is read, at an aligned address inside
/// `buffer`, so a restore that reads 4 MiB of a pack neither copies it out of the
/// cache nor fills the cache with packs that it reads once.
pub(crate) fn read(
    root: &Path,
    path: &str,
    offset: u64,
    length: usize,
    buffer: &mut Vec<u8>,
) -> io::Result<Option<Range<usize>>> {
    let file_path = root.join(path);
    let (file, direct) = match open_for_read(&file_path) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let head = (offset % ALIGN as u64) as usize;
    let (start, span) = if direct {
        (
            offset - head as u64,
            (head + length).next_multiple_of(ALIGN),
        )
    } else {
        (offset, length)
    };
    buffer.clear();
    // Exact, so a buffer used again for a larger read does not double past it.
    buffer.reserve_exact(span + ALIGN);
    // The bytes before the aligned address are zeroed, so the whole buffer stays
    // initialised; the read fills the rest.
    let front = if direct {
        buffer.as_ptr().align_offset(ALIGN)
    } else {
        0
    };
    buffer.resize(front, 0);
    let read = match read_into_spare(&file, start, span, buffer) {
        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
            clear_direct(&file)?;
            buffer.truncate(front);
            read_into_spare(&file, start, span, buffer)?
        }
        other => other?,
    };
    let skip = if direct { head } else { 0 };
    let from = front + skip.min(read);
    let to = front + read.min(skip + length);
    Ok(Some(from..to))
}

/// Opens a file for reading with `O_DIRECT`, or without it where the filesystem
/// refuses it. Returns whether the read is direct.
fn open_for_read(path: &Path) -> io::Result<(File, bool)> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(file) => Ok((file, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((File::open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Reads up to `span` bytes at `start` into the spare capacity of `buffer`, which
/// has room for them, and returns how many it read. It stops at the end of the file.
fn read_into_spare(
    file: &File,
    start: u64,
    span: usize,
    buffer: &mut Vec<u8>,
) -> io::Result<usize> {
    let base = buffer.len();
    let mut total = 0;
    while total < span {
        let spare = &mut buffer.spare_capacity_mut()[..span - total];
        // SAFETY: `spare` is writable memory of `spare.len()` bytes inside `buffer`'s
        // allocation, and pread writes at most that many bytes into it.
        let got = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                (start + total as u64) as libc::off_t,
            )
        };
        if got < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        let got = got as usize;
        // SAFETY: pread initialised `got` more bytes right after the `total` before.
        unsafe { buffer.set_len(base + total + got) };
        total += got;
        // The end of the file: a direct read past it would start unaligned.
        if got == 0 || !got.is_multiple_of(ALIGN) {
            break;
        }
    }
    Ok(total)
}

pub(crate) fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "direct-{}-{}-{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary file, removed on drop unless it was renamed into place.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    #[test]
    fn writes_every_length_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            PIECE,
            PIECE + 3 * ALIGN + 17,
        ] {
            let bytes = pattern(len);
            let path = format!("data/ab/object-{len}");
            let outcome = write(dir.path(), &path, &bytes).unwrap();
            if outcome == Direct::Unsupported {
                eprintln!("the temporary folder's filesystem has no O_DIRECT; nothing to check");
                return;
            }
            assert_eq!(
                std::fs::read(dir.path().join(&path)).unwrap(),
                bytes,
                "length {len}"
            );
        }
        let temp: Vec<_> = std::fs::read_dir(dir.path().join(".tmp"))
            .unwrap()
            .collect();
        assert!(temp.is_empty(), "temporary files left: {temp:?}");
    }

    #[test]
    fn reads_any_range_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = pattern(3 * ALIGN + 100);
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/pack"), &bytes).unwrap();
        let mut buffer = Vec::new();
        for (offset, length) in [
            (0, 0),
            (0, 1),
            (0, ALIGN),
            (1, ALIGN),
            (ALIGN - 1, 2),
            (ALIGN, 2 * ALIGN),
            (17, 3 * ALIGN + 83),
            (2 * ALIGN + 5, ALIGN + 95),
        ] {
            let range = read(dir.path(), "data/pack", offset as u64, length, &mut buffer)
                .unwrap()
                .unwrap();
            assert_eq!(
                &buffer[range],
                &bytes[offset..offset + length],
                "offset {offset}, length {length}"
            );
        }
    }

    #[test]
    fn short_and_missing_reads() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = pattern(ALIGN + 10);
        std::fs::write(dir.path().join("pack"), &bytes).unwrap();
        let mut buffer = Vec::new();
        let range = read(dir.path(), "pack", 5, 2 * ALIGN, &mut buffer)
            .unwrap()
            .unwrap();
        assert_eq!(&buffer[range], &bytes[5..]);
        let range = read(dir.path(), "pack", 2 * ALIGN as u64, 10, &mut buffer)
            .unwrap()
            .unwrap();
        assert!(range.is_empty());
        assert_eq!(read(dir.path(), "other", 0, 10, &mut buffer).unwrap(), None);
    }

    #[test]
    fn failed_rename_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the object's folder should be.
        std::fs::write(dir.path().join("data"), b"not a folder").unwrap();
        let error = write(dir.path(), "data/ab/object", &pattern(PIECE)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotADirectory);
        let temp: Vec<_> = std::fs::read_dir(dir.path().join(".tmp"))
            .unwrap()
            .collect();
        assert!(temp.is_empty(), "temporary files left: {temp:?}");
    }
}
