//! Streaming decryption and verification of crypt15 files.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Cursor, Read, Write};
use std::path::Path;

use md5::{Digest, Md5};

use crate::content::{ContentKind, ContentSink, ContentStatus};
use crate::diagnose::{diagnose, Evidence};
use crate::gcm::{GcmStream, MAX_GCM_BYTES, TAG_LEN};
use crate::header::{Header, MAX_HEADER_LEN};
use crate::{io_error, stream_error, Error, ProgressReader, RootKey};

/// Bytes at the end of a single-file backup: the GCM tag and the MD5 checksum.
pub const TRAILER_LEN: u64 = 32;

/// Ciphertext bytes kept from the start of the body to locate a damaged IV.
pub(crate) const PROBE_LEN: usize = 4096;

const CHUNK_LEN: usize = 64 * 1024;

/// Options for [`decrypt_stream`] and [`decrypt_file`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DecryptOptions {
    /// Accepts a file whose MD5 checksum does not match when its content verifies
    /// with the GCM tag (a damaged checksum or a damaged header outside the IV).
    pub ignore_checksum: bool,
}

/// Layout of the end of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Content, GCM tag, and the MD5 of every byte before it: message databases.
    SingleFile,
    /// Content and GCM tag without a checksum: multi-file backups (stickers, wallpapers).
    MultiFile,
}

/// The result of a successful decryption.
#[derive(Clone, Debug)]
pub struct DecryptReport {
    /// The parsed header.
    pub header: Header,
    /// Whether the file ends with an MD5 checksum.
    pub layout: Layout,
    /// Kind of content.
    pub content: ContentKind,
    /// Length of the input file.
    pub file_len: u64,
    /// Bytes written to the output.
    pub output_len: u64,
    /// True when the MD5 checksum did not match and [`DecryptOptions::ignore_checksum`]
    /// let the file through.
    pub checksum_ignored: bool,
}

/// Decrypts a crypt15 stream of `file_len` bytes into `writer`.
///
/// The output is written as the input is read, before the tag at the end is checked:
/// on error, whatever was written is unauthenticated and must be discarded.
/// [`decrypt_file`] does that with a temporary file.
pub fn decrypt_stream<R: Read, W: Write>(
    mut reader: R,
    file_len: u64,
    key: &RootKey,
    writer: W,
    options: DecryptOptions,
) -> Result<DecryptReport, Error> {
    let mut start = vec![0u8; file_len.min(MAX_HEADER_LEN as u64) as usize];
    reader
        .read_exact(&mut start)
        .map_err(stream_error("read the backup"))?;
    let header = Header::parse(&start)?;
    let body_len = file_len - header.len as u64;
    if body_len < TRAILER_LEN {
        return Err(Error::TooShort {
            body_len,
            min: TRAILER_LEN,
        });
    }
    let ciphertext_len = body_len - TRAILER_LEN;
    if ciphertext_len + TAG_LEN as u64 > MAX_GCM_BYTES {
        return Err(Error::TooLarge { max: MAX_GCM_BYTES });
    }

    let mut md5 = Md5::new();
    md5.update(&start[..header.len]);
    let rest = Cursor::new(start[header.len..].to_vec());
    let mut body = rest.chain(reader);

    let file_key = key.file_key();
    let mut gcm = GcmStream::new(&file_key, &header.iv);
    let mut sink = ContentSink::new(writer);
    let mut probe = Vec::with_capacity(PROBE_LEN);
    let mut chunk = vec![0u8; CHUNK_LEN];
    let mut remaining = ciphertext_len;
    while remaining > 0 {
        let len = remaining.min(CHUNK_LEN as u64) as usize;
        let buf = &mut chunk[..len];
        body.read_exact(buf)
            .map_err(stream_error("read the backup"))?;
        md5.update(&*buf);
        let keep = (PROBE_LEN - probe.len()).min(len);
        probe.extend_from_slice(&buf[..keep]);
        gcm.decrypt(buf);
        sink.feed(buf).map_err(stream_error("write the output"))?;
        remaining -= len as u64;
    }
    let mut trailer = [0u8; TRAILER_LEN as usize];
    body.read_exact(&mut trailer)
        .map_err(stream_error("read the backup"))?;
    md5.update(&trailer[..16]);

    let evidence = Evidence {
        header,
        file_len,
        file_key,
        computed_tag: gcm.tag(),
        computed_md5: md5.finalize().into(),
        trailer,
        probe,
    };
    finish(evidence, gcm, sink, options)
}

/// Picks the layout whose tag verifies, or names what is wrong.
fn finish<W: Write>(
    evidence: Evidence,
    gcm: GcmStream,
    mut sink: ContentSink<W>,
    options: DecryptOptions,
) -> Result<DecryptReport, Error> {
    let stored_tag: [u8; 16] = evidence.trailer[..16].try_into().expect("16 bytes");
    let stored_md5: [u8; 16] = evidence.trailer[16..].try_into().expect("16 bytes");
    let md5_ok = evidence.computed_md5 == stored_md5;
    let single_ok = constant_time_eq(&evidence.computed_tag, &stored_tag);

    // A multi-file backup has no checksum: its last 16 bytes are the tag, and the 16
    // bytes before them are content.
    let mut multi = gcm.clone();
    let mut last_content = stored_tag;
    multi.decrypt(&mut last_content);
    let multi_ok = !md5_ok && constant_time_eq(&multi.tag(), &stored_md5);

    let (layout, checksum_ignored) = if single_ok && md5_ok {
        (Layout::SingleFile, false)
    } else if single_ok && options.ignore_checksum {
        tracing::warn!("the MD5 checksum does not match; the content verified with its GCM tag");
        (Layout::SingleFile, true)
    } else if multi_ok && sink.status().kind == Some(ContentKind::Zlib) && !options.ignore_checksum
    {
        // Multi-file backups hold a ZIP archive; zlib content verifying as multi-file
        // is a message database backup that lost its last 16 bytes.
        return Err(Error::ChecksumMissing);
    } else if multi_ok {
        sink.feed(&last_content)
            .map_err(stream_error("write the output"))?;
        (Layout::MultiFile, false)
    } else {
        sink.discard_output();
        return Err(diagnose(&evidence, md5_ok, single_ok, gcm, sink));
    };

    let status = sink.finish().map_err(stream_error("write the output"))?;
    let content = check_content(&status)?;
    Ok(DecryptReport {
        header: evidence.header,
        layout,
        content,
        file_len: evidence.file_len,
        output_len: sink.written(),
        checksum_ignored,
    })
}

/// Checks that verified content is complete.
fn check_content(status: &ContentStatus) -> Result<ContentKind, Error> {
    let Some(kind) = status.kind else {
        return Err(Error::InvalidContent {
            reason: "it is neither a zlib stream nor a ZIP archive".into(),
        });
    };
    if let Some((at, reason)) = &status.failure {
        return Err(Error::InvalidContent {
            reason: format!("its zlib stream fails at byte {at}: {reason}"),
        });
    }
    if kind == ContentKind::Zlib && !status.ended {
        return Err(Error::InvalidContent {
            reason: "its zlib stream stops before its end".into(),
        });
    }
    if status.trailing > 0 {
        tracing::warn!(
            trailing = status.trailing,
            "bytes after the end of the zlib stream were ignored"
        );
    }
    Ok(kind)
}

pub(crate) fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decrypts `input` into `output`. The content goes to a temporary file next to
/// `output`, which is renamed to `output` only after the tag (and the checksum, unless
/// ignored) verify. On any error, no output file is left behind.
pub fn decrypt_file(
    input: &Path,
    key: &RootKey,
    output: &Path,
    options: DecryptOptions,
) -> Result<DecryptReport, Error> {
    decrypt_file_with_progress(input, key, output, options, &|_| {})
}

/// [`decrypt_file`], calling `progress` with the number of input bytes read so far.
pub fn decrypt_file_with_progress(
    input: &Path,
    key: &RootKey,
    output: &Path,
    options: DecryptOptions,
    progress: &dyn Fn(u64),
) -> Result<DecryptReport, Error> {
    reject_same_file(input, output)?;
    let file = File::open(input).map_err(io_error("open the backup", input))?;
    let file_len = file
        .metadata()
        .map_err(io_error("read the size of", input))?
        .len();
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".haven-whatsapp-")
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(io_error("create a temporary file in", parent))?;
    let mut writer = BufWriter::with_capacity(CHUNK_LEN, temp.as_file());
    let reader = BufReader::with_capacity(CHUNK_LEN, ProgressReader::new(file, progress));
    let report = decrypt_stream(reader, file_len, key, &mut writer, options)?;
    writer.flush().map_err(io_error("write", temp.path()))?;
    drop(writer);
    temp.as_file()
        .sync_all()
        .map_err(io_error("write", temp.path()))?;
    temp.persist(output)
        .map_err(|error| io_error("rename the temporary file to", output)(error.error))?;
    Ok(report)
}

/// Decrypts `input` without writing anything, to check that the key opens it and
/// that it is intact.
pub fn verify_file(
    input: &Path,
    key: &RootKey,
    options: DecryptOptions,
) -> Result<DecryptReport, Error> {
    let file = File::open(input).map_err(io_error("open the backup", input))?;
    let file_len = file
        .metadata()
        .map_err(io_error("read the size of", input))?
        .len();
    let reader = BufReader::with_capacity(CHUNK_LEN, file);
    decrypt_stream(reader, file_len, key, io::sink(), options)
}

fn reject_same_file(input: &Path, output: &Path) -> Result<(), Error> {
    let Ok(input) = input.canonicalize() else {
        return Ok(());
    };
    if output.canonicalize().is_ok_and(|output| output == input) {
        return Err(Error::OutputIsInput {
            path: output.to_owned(),
        });
    }
    Ok(())
}
