//! Reading a crypt15 file's header and checksum without the key.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use md5::{Digest, Md5};

use crate::header::{Header, MAX_HEADER_LEN};
use crate::{io_error, Error};

/// Facts about a crypt15 file that need no key.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The parsed header.
    pub header: Header,
    /// Length of the file.
    pub file_len: u64,
    /// Whether the last 16 bytes are the MD5 of every byte before them. False for a
    /// damaged file, and for a multi-file backup, which has no checksum.
    pub checksum_matches: bool,
}

/// Parses the header of `path` and checks its MD5 checksum.
pub fn inspect_file(path: &Path) -> Result<Inspection, Error> {
    let file = File::open(path).map_err(io_error("open the backup", path))?;
    let file_len = file
        .metadata()
        .map_err(io_error("read the size of", path))?
        .len();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut start = vec![0u8; file_len.min(MAX_HEADER_LEN as u64) as usize];
    reader
        .read_exact(&mut start)
        .map_err(io_error("read", path))?;
    let header = Header::parse(&start)?;

    let checksum_matches = if file_len >= header.len as u64 + 32 {
        checksum_matches(&mut reader, &start, file_len).map_err(io_error("read", path))?
    } else {
        false
    };
    Ok(Inspection {
        header,
        file_len,
        checksum_matches,
    })
}

/// Compares the last 16 bytes with the MD5 of the bytes before them. `start` contains the
/// first bytes of the file, already read from `reader`.
fn checksum_matches<R: Read>(reader: R, start: &[u8], file_len: u64) -> io::Result<bool> {
    let mut file = io::Cursor::new(start).chain(reader);
    let mut hashed = (&mut file).take(file_len - 16);
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let len = hashed.read(&mut buf)?;
        if len == 0 {
            break;
        }
        md5.update(&buf[..len]);
    }
    let mut stored = [0u8; 16];
    file.read_exact(&mut stored)?;
    Ok(md5.finalize().as_slice() == stored)
}
