//! Seeded random streams.
//!
//! Every stream is a ChaCha8 generator keyed by SHA-256 of a label, the user's seed and
//! a stream-specific number. ChaCha8Rng output is stable across rand_chacha 0.3
//! releases (unlike `StdRng`), so a seed gives the same data set on every build.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// Returns the random stream named `label` for `seed` and `index`.
pub fn stream(label: &str, seed: u64, index: u64) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"haven-chatgen/");
    hasher.update(label.as_bytes());
    hasher.update([0]);
    hasher.update(seed.to_le_bytes());
    hasher.update(index.to_le_bytes());
    ChaCha8Rng::from_seed(hasher.finalize().into())
}
