//! Streaming encryption into the crypt15 format.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::{Compress, Compression, FlushCompress, Status};
use md5::{Digest, Md5};

use crate::gcm::{GcmStream, MAX_GCM_BYTES};
use crate::header::Header;
use crate::proto::BackupInfo;
use crate::{io_error, stream_error, Error, ProgressReader, RootKey};

const CHUNK_LEN: usize = 64 * 1024;

/// Options for [`encrypt_stream`] and [`encrypt_file`].
#[derive(Clone, Debug)]
pub struct EncryptOptions {
    /// The 16-byte IV; random when absent. A fixed IV is for reproducible test files
    /// only: two files under one key and IV reveal the XOR of their contents.
    pub iv: Option<[u8; 16]>,
    /// App version, phone number suffix and feature flags for the header.
    pub info: BackupInfo,
    /// zlib level, 0 to 9. WhatsApp reads any level; 1 is what wa-crypt-tools 0.1.0
    /// writes.
    pub compression_level: u32,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            iv: None,
            info: BackupInfo::message_database(),
            compression_level: 1,
        }
    }
}

/// The result of an encryption.
#[derive(Clone, Debug)]
pub struct EncryptReport {
    /// The header written.
    pub header: Header,
    /// Bytes read from the input.
    pub input_len: u64,
    /// Bytes written.
    pub output_len: u64,
}

/// Compresses and encrypts `reader` into `writer` as a single-file crypt15 backup.
pub fn encrypt_stream<R: Read, W: Write>(
    mut reader: R,
    key: &RootKey,
    mut writer: W,
    options: &EncryptOptions,
) -> Result<EncryptReport, Error> {
    let iv = options.iv.unwrap_or_else(|| {
        let mut iv = [0u8; 16];
        haven_crypto::random_bytes(&mut iv);
        iv
    });
    let header = Header::new(iv, options.info.clone());
    let header_bytes = header.to_bytes()?;
    let mut out = Output {
        writer: &mut writer,
        md5: Md5::new(),
        gcm: GcmStream::new(&key.file_key(), &iv),
        written: 0,
    };
    out.write_plain(&header_bytes)?;

    let mut compress = Compress::new(Compression::new(options.compression_level.min(9)), true);
    let mut input = vec![0u8; CHUNK_LEN];
    let mut compressed = vec![0u8; CHUNK_LEN];
    loop {
        let len = read_some(&mut reader, &mut input)?;
        if len == 0 {
            break;
        }
        let mut data = &input[..len];
        while !data.is_empty() {
            let in_before = compress.total_in();
            let out_before = compress.total_out();
            compress
                .compress(data, &mut compressed, FlushCompress::None)
                .map_err(|error| Error::Stream {
                    action: "compress the input",
                    source: error.into(),
                })?;
            data = &data[(compress.total_in() - in_before) as usize..];
            let produced = (compress.total_out() - out_before) as usize;
            out.write_encrypted(&mut compressed[..produced])?;
        }
    }
    loop {
        let out_before = compress.total_out();
        let status = compress
            .compress(&[], &mut compressed, FlushCompress::Finish)
            .map_err(|error| Error::Stream {
                action: "compress the input",
                source: error.into(),
            })?;
        let produced = (compress.total_out() - out_before) as usize;
        out.write_encrypted(&mut compressed[..produced])?;
        if status == Status::StreamEnd {
            break;
        }
    }

    let tag = out.gcm.tag();
    out.write_plain(&tag)?;
    let checksum = out.md5.clone().finalize();
    out.writer
        .write_all(&checksum)
        .map_err(stream_error("write the output"))?;
    out.writer
        .flush()
        .map_err(stream_error("write the output"))?;
    Ok(EncryptReport {
        header,
        input_len: compress.total_in(),
        output_len: out.written + checksum.len() as u64,
    })
}

/// Bytes on their way out: every byte goes into the MD5, content goes through GCM.
struct Output<'a, W: Write> {
    writer: &'a mut W,
    md5: Md5,
    gcm: GcmStream,
    written: u64,
}

impl<W: Write> Output<'_, W> {
    fn write_plain(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.md5.update(bytes);
        self.writer
            .write_all(bytes)
            .map_err(stream_error("write the output"))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn write_encrypted(&mut self, content: &mut [u8]) -> Result<(), Error> {
        if !self.gcm.has_room_for(content.len()) {
            return Err(Error::TooLarge { max: MAX_GCM_BYTES });
        }
        self.gcm.encrypt(content);
        self.write_plain(content)
    }
}

fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    loop {
        match reader.read(buf) {
            Ok(len) => return Ok(len),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(stream_error("read the input")(error)),
        }
    }
}

/// Encrypts `input` into `output` through a temporary file next to `output`, renamed
/// once complete.
pub fn encrypt_file(
    input: &Path,
    key: &RootKey,
    output: &Path,
    options: &EncryptOptions,
) -> Result<EncryptReport, Error> {
    encrypt_file_with_progress(input, key, output, options, &|_| {})
}

/// [`encrypt_file`], calling `progress` with the number of input bytes read so far.
pub fn encrypt_file_with_progress(
    input: &Path,
    key: &RootKey,
    output: &Path,
    options: &EncryptOptions,
    progress: &dyn Fn(u64),
) -> Result<EncryptReport, Error> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) {
        if a == b {
            return Err(Error::OutputIsInput {
                path: output.to_owned(),
            });
        }
    }
    let file = File::open(input).map_err(io_error("open", input))?;
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".haven-whatsapp-")
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(io_error("create a temporary file in", parent))?;
    let writer = BufWriter::with_capacity(CHUNK_LEN, temp.as_file());
    let reader = BufReader::with_capacity(CHUNK_LEN, ProgressReader::new(file, progress));
    let report = encrypt_stream(reader, key, writer, options)?;
    temp.as_file()
        .sync_all()
        .map_err(io_error("write", temp.path()))?;
    temp.persist(output)
        .map_err(|error| io_error("rename the temporary file to", output)(error.error))?;
    Ok(report)
}
