//! Target for the crypt15 header and key file parsers.

use haven_whatsapp::{Header, RootKey};

pub fn header(data: &[u8]) {
    if let Ok(header) = Header::parse(data) {
        assert!(header.len <= data.len(), "header longer than its input");
        // A parsed header serializes again, unless its protobuf was too long.
        if let Ok(bytes) = header.to_bytes() {
            let again = Header::parse(&bytes).expect("a serialized header parses");
            assert_eq!(again.iv, header.iv);
        }
    }
    let _ = RootKey::from_key_file_bytes(data);
}
