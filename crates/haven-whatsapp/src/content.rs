//! The decrypted content of a crypt15 file: a zlib stream (a message database backup,
//! usually SQLite) or a plain ZIP archive (a multi-file backup such as stickers or
//! wallpapers). Recognized by its first bytes and inflated as it arrives.

use std::io::{self, Write};

use flate2::{Decompress, FlushDecompress, Status};

/// Kind of decrypted content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// A zlib stream, written out inflated.
    Zlib,
    /// A ZIP archive, written out as it is.
    Zip,
}

const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";
const BUFFER_LEN: usize = 64 * 1024;

enum State {
    Sniffing(Vec<u8>),
    Inflating(Box<Decompress>),
    Raw,
    /// The zlib stream ended after `at` bytes of content.
    Ended {
        at: u64,
    },
    /// The first bytes are neither a zlib header nor a ZIP signature.
    Unrecognized,
    /// Inflating failed near content byte `at`.
    Failed {
        at: u64,
        reason: String,
    },
}

/// The state of the content after the bytes fed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentStatus {
    /// The kind, once the first bytes are in and recognized.
    pub kind: Option<ContentKind>,
    /// Whether a zlib stream reached its end.
    pub ended: bool,
    /// Content byte near which inflating failed, and the inflater's message.
    pub failure: Option<(u64, String)>,
    /// Bytes fed after the end of the zlib stream.
    pub trailing: u64,
}

/// Receives decrypted content, inflates it if it is zlib, and writes the result.
pub struct ContentSink<W: Write> {
    writer: W,
    state: State,
    kind: Option<ContentKind>,
    fed: u64,
    written: u64,
    discard: bool,
    buffer: Vec<u8>,
}

impl<W: Write> ContentSink<W> {
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            state: State::Sniffing(Vec::with_capacity(4)),
            kind: None,
            fed: 0,
            written: 0,
            discard: false,
            buffer: vec![0; BUFFER_LEN],
        }
    }

    /// Stops writing output; later bytes are still inflated to find where the content
    /// ends or fails.
    pub fn discard_output(&mut self) {
        self.discard = true;
    }

    /// Bytes written to the output.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Feeds decrypted bytes. Errors only when the output cannot be written.
    pub fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        if let State::Sniffing(start) = &mut self.state {
            start.extend_from_slice(data);
            if start.len() < ZIP_MAGIC.len() {
                return Ok(());
            }
            let start = std::mem::take(start);
            self.recognize(&start);
            return self.process(&start);
        }
        self.process(data)
    }

    /// Recognizes the content from its first bytes, and flushes bytes still held
    /// back when the content was shorter than four bytes.
    pub fn finish(&mut self) -> io::Result<ContentStatus> {
        if let State::Sniffing(start) = &mut self.state {
            let start = std::mem::take(start);
            self.recognize(&start);
            self.process(&start)?;
        }
        if !self.discard {
            self.writer.flush()?;
        }
        Ok(self.status())
    }

    /// Returns the state after the bytes fed so far.
    pub fn status(&self) -> ContentStatus {
        let (ended, failure, trailing) = match &self.state {
            State::Ended { at } => (true, None, self.fed - at),
            State::Failed { at, reason } => (false, Some((*at, reason.clone())), 0),
            _ => (false, None, 0),
        };
        ContentStatus {
            kind: self.kind,
            ended,
            failure,
            trailing,
        }
    }

    fn recognize(&mut self, start: &[u8]) {
        if start.starts_with(ZIP_MAGIC) {
            self.kind = Some(ContentKind::Zip);
            self.state = State::Raw;
        } else if is_zlib_header(start) {
            self.kind = Some(ContentKind::Zlib);
            self.state = State::Inflating(Box::new(Decompress::new(true)));
        } else {
            self.state = State::Unrecognized;
        }
    }

    fn process(&mut self, data: &[u8]) -> io::Result<()> {
        let fed_before = self.fed;
        self.fed += data.len() as u64;
        match &mut self.state {
            State::Raw => {
                if !self.discard {
                    self.writer.write_all(data)?;
                    self.written += data.len() as u64;
                }
                Ok(())
            }
            State::Inflating(_) => self.inflate(data, fed_before),
            _ => Ok(()),
        }
    }

    fn inflate(&mut self, mut data: &[u8], mut position: u64) -> io::Result<()> {
        let State::Inflating(inflater) = &mut self.state else {
            return Ok(());
        };
        loop {
            let in_before = inflater.total_in();
            let out_before = inflater.total_out();
            let result = inflater.decompress(data, &mut self.buffer, FlushDecompress::None);
            let consumed = (inflater.total_in() - in_before) as usize;
            let produced = (inflater.total_out() - out_before) as usize;
            data = &data[consumed..];
            position += consumed as u64;
            if produced > 0 && !self.discard {
                self.writer.write_all(&self.buffer[..produced])?;
                self.written += produced as u64;
            }
            match result {
                Ok(Status::StreamEnd) => {
                    self.state = State::Ended { at: position };
                    return Ok(());
                }
                Ok(_) if consumed == 0 && produced == 0 => return Ok(()),
                Ok(_) => {}
                Err(error) => {
                    self.state = State::Failed {
                        at: position,
                        reason: error.to_string(),
                    };
                    return Ok(());
                }
            }
        }
    }
}

/// Checks the two-byte zlib header of RFC 1950: deflate with a window of at most 32 KiB,
/// no preset dictionary, and a header that is a multiple of 31.
fn is_zlib_header(start: &[u8]) -> bool {
    let [cmf, flg, ..] = *start else {
        return false;
    };
    cmf & 0x0f == 8
        && cmf >> 4 <= 7
        && flg & 0x20 == 0
        && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::write::ZlibEncoder;
    use flate2::Compression;

    use super::*;

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(1));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn zlib_content_inflates_in_pieces() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let compressed = compress(&data);
        let mut sink = ContentSink::new(Vec::new());
        for piece in compressed.chunks(3) {
            sink.feed(piece).unwrap();
        }
        let status = sink.finish().unwrap();
        assert_eq!(status.kind, Some(ContentKind::Zlib));
        assert!(status.ended);
        assert_eq!(status.trailing, 0);
        assert_eq!(sink.writer, data);
    }

    #[test]
    fn zip_content_passes_through() {
        let data = b"PK\x03\x04 rest of an archive".to_vec();
        let mut sink = ContentSink::new(Vec::new());
        sink.feed(&data[..2]).unwrap();
        sink.feed(&data[2..]).unwrap();
        let status = sink.finish().unwrap();
        assert_eq!(status.kind, Some(ContentKind::Zip));
        assert_eq!(sink.writer, data);
    }

    #[test]
    fn truncated_zlib_does_not_end() {
        let compressed = compress(&[7u8; 50_000]);
        let mut sink = ContentSink::new(Vec::new());
        sink.feed(&compressed[..compressed.len() - 5]).unwrap();
        let status = sink.finish().unwrap();
        assert!(!status.ended);
        assert_eq!(status.failure, None);
    }

    #[test]
    fn random_bytes_are_unrecognized() {
        let mut sink = ContentSink::new(Vec::new());
        sink.feed(&[0x13, 0x37, 0x00, 0xff, 0x10]).unwrap();
        let status = sink.finish().unwrap();
        assert_eq!(status.kind, None);
        assert!(sink.writer.is_empty());
    }
}
