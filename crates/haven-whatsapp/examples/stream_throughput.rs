//! Measures crypt15 encryption and decryption throughput and peak memory on a
//! generated input, to show that memory stays flat as files grow.
//!
//! Usage: `cargo run --release -p haven-whatsapp --example stream_throughput -- [MiB]`
//! (default 256). The input is written to and read from a temporary folder.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::time::Instant;

use haven_whatsapp::{decrypt_file, encrypt_stream, DecryptOptions, EncryptOptions, RootKey};

/// An endless reader of database-like bytes: 4 KiB pages of repeated text and counters,
/// which compress about as well as a message database.
struct Pages {
    remaining: u64,
    counter: u64,
}

impl Read for Pages {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = (buf.len() as u64).min(self.remaining).min(4096) as usize;
        for (i, byte) in buf[..len].iter_mut().enumerate() {
            self.counter = self
                .counter
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1);
            *byte = if i % 64 < 48 {
                b"hello from haven "[i % 17]
            } else {
                (self.counter >> 56) as u8
            };
        }
        self.remaining -= len as u64;
        Ok(len)
    }
}

fn peak_rss_kib() -> String {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .map(|line| line["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let key = RootKey::generate();
    let encrypted = dir.path().join("big.crypt15");
    let decrypted = dir.path().join("big.db");

    let start = Instant::now();
    let input = Pages {
        remaining: mib << 20,
        counter: 1,
    };
    let writer = BufWriter::new(File::create(&encrypted).expect("create the output"));
    let report = encrypt_stream(input, &key, writer, &EncryptOptions::default()).expect("encrypt");
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "encrypt: {mib} MiB in {seconds:.2} s ({:.0} MiB/s), {} bytes out, peak RSS {}",
        mib as f64 / seconds,
        report.output_len,
        peak_rss_kib()
    );

    let start = Instant::now();
    let report =
        decrypt_file(&encrypted, &key, &decrypted, DecryptOptions::default()).expect("decrypt");
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "decrypt: {mib} MiB in {seconds:.2} s ({:.0} MiB/s), {} bytes out, peak RSS {}",
        mib as f64 / seconds,
        report.output_len,
        peak_rss_kib()
    );
    assert_eq!(report.output_len, mib << 20);
}
