//! Media files: the embedded photos, incompressible video and voice note files, and
//! WhatsApp-style file names.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};
use crate::rng;
use crate::time::utc_date;

/// A photo embedded from `data/media` (public domain or CC0, see its README).
#[derive(Debug)]
pub struct Photo {
    pub bytes: &'static [u8],
    pub extension: &'static str,
    pub mime_type: &'static str,
    pub width: u32,
    pub height: u32,
}

macro_rules! photo {
    ($file:literal, $ext:literal, $mime:literal, $w:literal, $h:literal) => {
        Photo {
            bytes: include_bytes!(concat!("../../../data/media/", $file)),
            extension: $ext,
            mime_type: $mime,
            width: $w,
            height: $h,
        }
    };
}

/// The embedded photos, smallest first.
pub const PHOTOS: &[Photo] = &[
    photo!("rocket.jpg", "jpg", "image/jpeg", 640, 427),
    photo!("camera.png", "png", "image/png", 512, 512),
    photo!("chelsea.png", "png", "image/png", 451, 300),
    photo!("coffee.png", "png", "image/png", 600, 400),
    photo!("hubble_deep_field.jpg", "jpg", "image/jpeg", 1000, 872),
];

/// Kinds of media attachment, with WhatsApp's `message_type` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    VoiceNote,
}

impl MediaKind {
    /// Returns the `message.message_type` value: 1 image, 2 audio, 3 video.
    pub fn message_type(self) -> i64 {
        match self {
            MediaKind::Image => 1,
            MediaKind::VoiceNote => 2,
            MediaKind::Video => 3,
        }
    }
}

/// Smallest and largest generated video, in bytes.
const VIDEO_SIZES: (u64, u64) = (400_000, 12_000_000);
/// Smallest and largest generated voice note, in bytes.
const VOICE_SIZES: (u64, u64) = (6_000, 400_000);
/// Remaining budget below which planning stops.
const MIN_FILE: u64 = 4_096;

/// Content of one planned media file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// An exact copy of an embedded photo.
    Photo(usize),
    /// Random bytes of the given size from the stream `(label, seed, index)`.
    Random { size: u64, index: u64 },
}

/// One media file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSpec {
    pub kind: MediaKind,
    pub content: Content,
}

impl MediaSpec {
    /// Returns the file size in bytes.
    pub fn size(&self) -> u64 {
        match self.content {
            Content::Photo(index) => PHOTOS[index].bytes.len() as u64,
            Content::Random { size, .. } => size,
        }
    }
}

/// Plans media files that fill `budget` bytes: each embedded photo once, then a mix of
/// forwarded photo copies, voice notes and videos. Photo copies are exact duplicates, as
/// forwarded images are in a real media folder. Videos and voice notes are unique
/// random bytes, so deduplication cannot shrink most of the set.
pub fn plan(budget: u64, seed: u64) -> Vec<MediaSpec> {
    let mut rng = rng::stream("media-plan", seed, 0);
    let mut specs = Vec::new();
    let mut remaining = budget;

    for index in 0..PHOTOS.len() {
        let spec = photo_spec(index);
        if spec.size() <= remaining {
            remaining -= spec.size();
            specs.push(spec);
        }
    }

    while remaining >= MIN_FILE {
        let roll: f64 = rng.gen();
        let spec = if roll < 0.3 {
            photo_spec(rng.gen_range(0..PHOTOS.len()))
        } else {
            let (kind, (min, max)) = if roll < 0.6 {
                (MediaKind::VoiceNote, VOICE_SIZES)
            } else {
                (MediaKind::Video, VIDEO_SIZES)
            };
            let size = log_uniform(&mut rng, min, max).min(remaining);
            random_spec(kind, size, specs.len() as u64)
        };
        if spec.size() > remaining {
            continue;
        }
        remaining -= spec.size();
        specs.push(spec);
    }
    specs
}

fn photo_spec(index: usize) -> MediaSpec {
    MediaSpec {
        kind: MediaKind::Image,
        content: Content::Photo(index),
    }
}

/// Returns a spec of random content whose random stream is selected by `index`.
pub fn random_spec(kind: MediaKind, size: u64, index: u64) -> MediaSpec {
    MediaSpec {
        kind,
        content: Content::Random { size, index },
    }
}

/// Draws a size whose logarithm is uniform in [ln min, ln max], so small files are
/// common and large ones rare.
pub fn log_uniform(rng: &mut impl Rng, min: u64, max: u64) -> u64 {
    let (low, high) = ((min as f64).ln(), (max as f64).ln());
    rng.gen_range(low..high).exp() as u64
}

/// A media file on disk, with the metadata its `message_media` row stores.
#[derive(Debug, Clone)]
pub struct MediaFile {
    /// Path relative to the data folder, with `/` separators.
    pub relative_path: String,
    pub size: u64,
    pub mime_type: &'static str,
    /// Base64 of the SHA-256 of the file, as WhatsApp stores it.
    pub file_hash: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Play time in seconds, estimated from the size and a typical bit rate.
    pub duration_seconds: Option<u64>,
}

/// Writes the file of `spec` under `data_dir/media` and returns its metadata. The name
/// follows WhatsApp's pattern (`IMG-20240131-WA0003.jpg`) for the UTC date of
/// `timestamp_ms`, with the first free counter. Files sent by the owner go in `Sent`.
pub fn write_file(
    data_dir: &Path,
    spec: &MediaSpec,
    random_label: &str,
    seed: u64,
    timestamp_ms: i64,
    from_me: bool,
) -> Result<MediaFile> {
    let (year, month, day) = utc_date(timestamp_ms);
    let date = format!("{year:04}{month:02}{day:02}");
    let (folder, prefix, extension, mime_type) = match (spec.kind, spec.content) {
        (_, Content::Photo(index)) => {
            let photo = &PHOTOS[index];
            ("WhatsApp Images", "IMG", photo.extension, photo.mime_type)
        }
        (MediaKind::Video, _) => ("WhatsApp Video", "VID", "mp4", "video/mp4"),
        (MediaKind::VoiceNote, _) => (
            "WhatsApp Voice Notes",
            "PTT",
            "opus",
            "audio/ogg; codecs=opus",
        ),
        (MediaKind::Image, _) => ("WhatsApp Images", "IMG", "jpg", "image/jpeg"),
    };
    let mut folder = format!("media/{folder}");
    if spec.kind == MediaKind::VoiceNote {
        folder.push_str(&format!("/{year:04}{month:02}"));
    } else if from_me {
        folder.push_str("/Sent");
    }
    let folder_path = data_dir.join(&folder);
    fs::create_dir_all(&folder_path).on_path("create folder", &folder_path)?;

    let mut counter = 0;
    let (relative_path, path) = loop {
        let name = format!("{prefix}-{date}-WA{counter:04}.{extension}");
        let path = folder_path.join(&name);
        if !path.exists() {
            break (format!("{folder}/{name}"), path);
        }
        counter += 1;
    };

    let hash = match spec.content {
        Content::Photo(index) => {
            fs::write(&path, PHOTOS[index].bytes).on_path("write media file", &path)?;
            Sha256::digest(PHOTOS[index].bytes)
        }
        Content::Random { size, index } => {
            let mut rng = rng::stream(random_label, seed, index);
            write_random(&path, spec.kind, size, &mut rng)?
        }
    };

    let (width, height) = match spec.content {
        Content::Photo(index) => (Some(PHOTOS[index].width), Some(PHOTOS[index].height)),
        Content::Random { .. } if spec.kind == MediaKind::Video => (Some(848), Some(480)),
        Content::Random { .. } => (None, None),
    };
    let size = spec.size();
    let duration_seconds = match spec.kind {
        MediaKind::Image => None,
        // About 1 Mbit/s for video and 16 kbit/s for Opus voice notes.
        MediaKind::Video => Some(size * 8 / 1_000_000),
        MediaKind::VoiceNote => Some(size * 8 / 16_000),
    };
    Ok(MediaFile {
        relative_path,
        size,
        mime_type,
        file_hash: base64::engine::general_purpose::STANDARD.encode(hash),
        width,
        height,
        duration_seconds,
    })
}

/// Writes `size` bytes: a container header (MP4 `ftyp` + `mdat` box, or an Ogg page
/// marker) followed by random bytes. Returns the SHA-256 of the file.
fn write_random(
    path: &Path,
    kind: MediaKind,
    size: u64,
    rng: &mut impl RngCore,
) -> Result<sha2::digest::Output<Sha256>> {
    let mut header = Vec::new();
    if kind == MediaKind::Video {
        header.extend_from_slice(&[0, 0, 0, 0x18]);
        header.extend_from_slice(b"ftypmp42\0\0\0\0isommp42");
        let mdat = (size.saturating_sub(24) as u32).to_be_bytes();
        header.extend_from_slice(&mdat);
        header.extend_from_slice(b"mdat");
    } else {
        header.extend_from_slice(b"OggS\0\x02");
    }
    header.truncate(size as usize);

    let file = File::create(path).on_path("create media file", path)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    out.write_all(&header).on_path("write media file", path)?;
    hasher.update(&header);

    let mut buffer = vec![0u8; 1 << 20];
    let mut left = size - header.len() as u64;
    while left > 0 {
        let n = left.min(buffer.len() as u64) as usize;
        rng.fill_bytes(&mut buffer[..n]);
        out.write_all(&buffer[..n])
            .on_path("write media file", path)?;
        hasher.update(&buffer[..n]);
        left -= n as u64;
    }
    out.flush().on_path("write media file", path)?;
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_fills_budget() {
        let budget = 30_000_000;
        let specs = plan(budget, 7);
        let total: u64 = specs.iter().map(MediaSpec::size).sum();
        assert!(total <= budget, "{total} > {budget}");
        assert!(
            total + MIN_FILE >= budget,
            "{total} leaves too much of {budget}"
        );
        let photos = specs
            .iter()
            .filter(|s| matches!(s.content, Content::Photo(_)))
            .count();
        assert!(photos >= PHOTOS.len());
        assert!(specs.iter().any(|s| s.kind == MediaKind::Video));
    }

    #[test]
    fn plan_is_deterministic() {
        assert_eq!(plan(20_000_000, 3), plan(20_000_000, 3));
        assert_ne!(plan(20_000_000, 3), plan(20_000_000, 4));
    }
}
