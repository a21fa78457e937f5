//! The 100-byte SQLite database header.

/// The 16 bytes every SQLite 3 database file starts with.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Length of the database header at the start of page 1.
pub const HEADER_LEN: usize = 100;

/// The header fields that a backup checks before and after copying a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatabaseHeader {
    /// Page size in bytes, a power of two from 512 to 65536.
    pub page_size: usize,
    /// True when the file format version bytes (offsets 18 and 19) are 2, which means
    /// the database uses a write-ahead log.
    pub wal: bool,
    /// Database size in pages, when the header field is valid: SQLite trusts it only when
    /// it is non-zero and the "version-valid-for" number matches the change counter.
    pub page_count: Option<u32>,
}

impl DatabaseHeader {
    /// Parses the header, or returns `None` if `head` is not the start of a SQLite
    /// database with a valid page size.
    pub fn parse(head: &[u8]) -> Option<Self> {
        if head.len() < HEADER_LEN || &head[..16] != SQLITE_MAGIC {
            return None;
        }
        let raw = u16::from_be_bytes([head[16], head[17]]);
        let page_size = if raw == 1 { 65536 } else { raw as usize };
        if !(page_size.is_power_of_two() && (512..=65536).contains(&page_size)) {
            return None;
        }
        let be32 =
            |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let change_counter = be32(24);
        let pages = be32(28);
        let valid_for = be32(92);
        Some(Self {
            page_size,
            wal: head[18] == 2 && head[19] == 2,
            page_count: (pages != 0 && valid_for == change_counter).then_some(pages),
        })
    }

    /// Returns why a database file of `file_len` bytes with this header is cut short,
    /// or `None` if its length fits the header. A database whose newest pages are
    /// in its write-ahead log may be shorter than the header says, so only call this
    /// when there is no write-ahead log to apply.
    pub fn truncation(&self, file_len: u64) -> Option<String> {
        let page_size = self.page_size as u64;
        if !file_len.is_multiple_of(page_size) {
            return Some(format!(
                "its length {file_len} is not a multiple of its page size {page_size}"
            ));
        }
        let expected = self.page_count? as u64 * page_size;
        (file_len < expected).then(|| {
            format!(
                "it is {file_len} bytes long but its header says {} pages of {page_size} bytes ({expected} bytes)",
                expected / page_size
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(page_size_field: u16, counter: u32, pages: u32, valid_for: u32) -> Vec<u8> {
        let mut head = vec![0u8; HEADER_LEN];
        head[..16].copy_from_slice(SQLITE_MAGIC);
        head[16..18].copy_from_slice(&page_size_field.to_be_bytes());
        head[18] = 1;
        head[19] = 1;
        head[24..28].copy_from_slice(&counter.to_be_bytes());
        head[28..32].copy_from_slice(&pages.to_be_bytes());
        head[92..96].copy_from_slice(&valid_for.to_be_bytes());
        head
    }

    #[test]
    fn page_size_one_means_65536() {
        let parsed = DatabaseHeader::parse(&header(1, 3, 2, 3)).unwrap();
        assert_eq!(parsed.page_size, 65536);
    }

    #[test]
    fn invalid_page_size_is_not_a_database() {
        assert!(DatabaseHeader::parse(&header(1000, 3, 2, 3)).is_none());
        assert!(DatabaseHeader::parse(&header(256, 3, 2, 3)).is_none());
    }

    #[test]
    fn short_head_is_not_a_database() {
        assert!(DatabaseHeader::parse(&header(4096, 3, 2, 3)[..50]).is_none());
    }

    #[test]
    fn stale_page_count_is_ignored() {
        let parsed = DatabaseHeader::parse(&header(4096, 7, 2, 6)).unwrap();
        assert_eq!(parsed.page_count, None);
        assert_eq!(parsed.truncation(4096), None);
    }

    #[test]
    fn truncation_is_detected() {
        let parsed = DatabaseHeader::parse(&header(4096, 3, 10, 3)).unwrap();
        assert!(parsed.truncation(4096 * 9).is_some());
        assert!(parsed.truncation(4096 * 10 - 1).is_some());
        assert_eq!(parsed.truncation(4096 * 10), None);
        assert_eq!(parsed.truncation(4096 * 11), None);
    }
}
