//! FastCDC's cut search, over a gear hash scanned four stretches of data at a time.
//!
//! FastCDC's gear hash takes one shift and one add per byte, each waiting on the
//! last, so `fastcdc::v2020::cut_gear` searches about 1.4 GB/s on the benchmark
//! machine. A byte's hash depends only on the 64 bytes that end at it, since older
//! bytes are shifted out, so any stretch of data can be hashed on its own once it
//! has 63 bytes of history. [`scan`] hashes four stretches in one loop, which lets
//! the core overlap them, and keeps the few positions whose hash could make a cut.
//! [`CutSearch`] then picks the same cut points as FastCDC. On 500 MB of random
//! bytes with the default sizes, it found them in 0.13 s against `cut_gear`'s
//! 0.29 s. It also hashes some bytes that `cut_gear` skips: the first `min` bytes of
//! a chunk, when they were scanned ahead of the last cut.

use std::collections::VecDeque;

use fastcdc::v2020::{get_gear_with_seed, logarithm2, Normalization, MASKS};

/// Bytes hashed at a time while no cut is found. Past a cut, the next chunk's
/// first `min` bytes are never searched, so scanning far ahead wastes work: on
/// 500 MB of random bytes, steps of 256 KiB took 0.15 s and steps of 64 KiB 0.13 s.
const STEP: usize = 64 * 1024;
/// Bytes of history in a gear hash.
const WINDOW: usize = 64;
/// Stretches hashed in one loop. Three to eight ran at the same speed on the
/// benchmark machine, two at two thirds of it.
const LANES: usize = 4;

/// Finds FastCDC's (normalization level 1) cut points in a stream of windows.
pub(crate) struct CutSearch {
    gear: Box<[u64; 256]>,
    min: usize,
    avg: usize,
    /// The mask that ends a chunk shorter than `avg`.
    mask_s: u64,
    /// The mask that ends a longer chunk.
    mask_l: u64,
    /// Stream offset up to which positions are scanned.
    scanned: u64,
    /// Scanned positions whose hash has zeros in the bits of both masks, with the hash.
    candidates: VecDeque<(u64, u64)>,
}

impl CutSearch {
    pub fn new(min: u32, avg: u32, seed: u64) -> Self {
        let bits = logarithm2(avg);
        let level = Normalization::Level1.bits();
        let (gear, _) = get_gear_with_seed(seed);
        CutSearch {
            gear,
            min: min as usize,
            avg: avg as usize,
            mask_s: MASKS[(bits + level) as usize],
            mask_l: MASKS[(bits - level) as usize],
            scanned: 0,
            candidates: VecDeque::new(),
        }
    }

    /// Returns the length of the chunk that starts `window`, which begins at stream
    /// offset `start`. When `complete`, the window has the next maximum-size chunk
    /// or the rest of the stream. Otherwise it has only the start of a longer one,
    /// and `None` means that no cut is in it yet. Calls for one chunk pass windows
    /// that start at the same offset and grow. The first call for the next chunk
    /// passes a window that starts where this one ends.
    pub fn cut(&mut self, window: &[u8], start: u64, complete: bool) -> Option<usize> {
        let remaining = window.len();
        let stop = complete.then_some(remaining);
        if remaining <= self.min {
            return stop;
        }
        let range = self.range(remaining, complete);
        self.cut_in_first(window, &range)
            .or_else(|| self.cut_in_rest(window, start, &range))
            .or(stop)
    }

    /// Returns the positions that a window of `remaining` bytes has to test.
    fn range(&self, remaining: usize, complete: bool) -> Range {
        // FastCDC tests positions two at a time from an even offset, so never the
        // last byte of an odd-length rest, and tests the short-chunk mask only
        // below the (even) average size. A window that is not complete may still
        // turn out to be the rest of the stream, so its last byte waits for the next
        // call when its length is odd. Its other positions get the mask for their
        // place in a chunk of at least the window's length.
        let first = self.min & !1;
        let short_end = if complete {
            remaining.min(self.avg) & !1
        } else {
            self.avg & !1
        };
        let end = remaining & !1;
        Range {
            first,
            short_end,
            end,
            first_end: (first + WINDOW).min(end),
        }
    }

    fn mask(&self, range: &Range, at: usize) -> u64 {
        if at < range.short_end {
            self.mask_s
        } else {
            self.mask_l
        }
    }

    /// Tests the first positions. FastCDC starts each search with an empty hash,
    /// so they see less than 64 bytes of history and are hashed here on their own.
    fn cut_in_first(&self, window: &[u8], range: &Range) -> Option<usize> {
        let mut hash: u64 = 0;
        let first = &window[range.first..range.first_end];
        for (at, &byte) in (range.first..).zip(first) {
            hash = (hash << 1).wrapping_add(self.gear[byte as usize]);
            if hash & self.mask(range, at) == 0 {
                return Some(at);
            }
        }
        None
    }

    /// Tests the positions after the first ones, scanning more of `window` while
    /// the positions scanned so far make no cut.
    fn cut_in_rest(&mut self, window: &[u8], start: u64, range: &Range) -> Option<usize> {
        let from = start + range.first_end as u64;
        let until = start + range.end as u64;
        loop {
            while let Some(&(at, hash)) = self.candidates.front() {
                if at >= until {
                    return None;
                }
                self.candidates.pop_front();
                if at < from {
                    continue;
                }
                let at = (at - start) as usize;
                if hash & self.mask(range, at) == 0 {
                    return Some(at);
                }
            }
            if self.scanned >= until {
                return None;
            }
            let scan_from = self.scanned.max(from);
            let scan_to = until.min(scan_from + STEP as u64);
            let (a, b) = ((scan_from - start) as usize, (scan_to - start) as usize);
            let mut found = Vec::new();
            scan(
                &window[..b],
                a,
                &self.gear,
                self.mask_s & self.mask_l,
                &mut found,
            );
            self.candidates
                .extend(found.into_iter().map(|(at, h)| (start + at as u64, h)));
            self.scanned = scan_to;
        }
    }
}

/// The positions of a window that a search tests, as offsets in the window.
struct Range {
    /// The first position tested.
    first: usize,
    /// Positions before it are tested with the short-chunk mask.
    short_end: usize,
    /// The end of the tested positions.
    end: usize,
    /// The end of the positions hashed with less than 64 bytes of history.
    first_end: usize,
}

/// Pushes onto `found`, in order, every position `at` from `from` on whose gear hash
/// over `bytes[at - 63..=at]` has no bit of `mask` set. `from` must be at least 63.
#[inline(never)]
fn scan(bytes: &[u8], from: usize, gear: &[u64; 256], mask: u64, found: &mut Vec<(usize, u64)>) {
    let lane_len = (bytes.len() - from) / LANES;
    if lane_len < WINDOW {
        scan_one(bytes, from, gear, mask, found);
        return;
    }
    let starts: [usize; LANES] = std::array::from_fn(|lane| from + lane * lane_len);
    let [mut h0, mut h1, mut h2, mut h3] = starts.map(|at| warm(&bytes[at + 1 - WINDOW..at], gear));
    let [b0, b1, b2, b3] = starts.map(|at| &bytes[at..at + lane_len]);
    let lanes = b0.iter().zip(b1).zip(b2).zip(b3);
    for (i, (((&x0, &x1), &x2), &x3)) in lanes.enumerate() {
        h0 = (h0 << 1).wrapping_add(gear[x0 as usize]);
        h1 = (h1 << 1).wrapping_add(gear[x1 as usize]);
        h2 = (h2 << 1).wrapping_add(gear[x2 as usize]);
        h3 = (h3 << 1).wrapping_add(gear[x3 as usize]);
        // One rarely taken branch for all four lanes.
        if ((h0 & mask == 0) as u8
            | (h1 & mask == 0) as u8
            | (h2 & mask == 0) as u8
            | (h3 & mask == 0) as u8)
            != 0
        {
            for (lane, hash) in [h0, h1, h2, h3].into_iter().enumerate() {
                if hash & mask == 0 {
                    found.push((starts[lane] + i, hash));
                }
            }
        }
    }
    found.sort_unstable();
    scan_one(bytes, from + LANES * lane_len, gear, mask, found);
}

/// Scans as [`scan`] does, one byte at a time.
fn scan_one(
    bytes: &[u8],
    from: usize,
    gear: &[u64; 256],
    mask: u64,
    found: &mut Vec<(usize, u64)>,
) {
    let mut hash = warm(&bytes[from + 1 - WINDOW..from], gear);
    for (at, &byte) in bytes.iter().enumerate().skip(from) {
        hash = (hash << 1).wrapping_add(gear[byte as usize]);
        if hash & mask == 0 {
            found.push((at, hash));
        }
    }
}

/// Returns the gear hash of `history`.
fn warm(history: &[u8], gear: &[u64; 256]) -> u64 {
    history.iter().fold(0, |hash, &byte| {
        (hash << 1).wrapping_add(gear[byte as usize])
    })
}

#[cfg(test)]
mod tests {
    use fastcdc::v2020::FastCDC;

    use super::*;

    fn bytes(len: usize, mut state: u64, alphabet: u8) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8 % alphabet
            })
            .collect()
    }

    #[test]
    fn scan_lanes_match_single_lane() {
        let (gear, _) = get_gear_with_seed(5);
        let data = bytes(200_000, 11, 255);
        // Few mask bits, so that every lane finds many positions.
        for mask in [0x0000_0000_0000_7000, MASKS[8], MASKS[12]] {
            for (from, len) in [
                (63, 200_000),
                (63, 63 + 4 * 64),
                (1000, 1000 + 4 * 64 - 1),
                (777, 150_001),
            ] {
                let (mut lanes, mut single) = (Vec::new(), Vec::new());
                scan(&data[..len], from, &gear, mask, &mut lanes);
                scan_one(&data[..len], from, &gear, mask, &mut single);
                assert!(
                    !single.is_empty() || len - from < 1000,
                    "mask {mask:x} found nothing"
                );
                assert_eq!(lanes, single, "mask {mask:x} from {from} length {len}");
            }
        }
    }

    #[test]
    fn cuts_where_fastcdc_cuts() {
        let sizes = [
            (64, 256, 1024),
            (64, 1024, 1024),
            (1000, 1000, 1024),
            (4096, 16384, 65536),
            (256 * 1024, 1 << 20, 4 << 20),
        ];
        // Random bytes, two-letter text that hashes to a cut often, and zeros, which
        // hash to one value that cuts never or everywhere, depending on the seed.
        let kinds = [255, 2, 1];
        for (min, avg, max) in sizes {
            for (k, alphabet) in kinds.into_iter().enumerate() {
                for seed in [0, 1, 0x9E37_79B9_7F4A_7C15] {
                    let length = (40 * max as usize).min(3_000_000) + k;
                    let data = bytes(length, seed ^ 0x5555 ^ k as u64, alphabet);
                    let expected: Vec<usize> = FastCDC::with_level_and_seed(
                        &data,
                        min,
                        avg,
                        max,
                        Normalization::Level1,
                        seed,
                    )
                    .map(|chunk| chunk.length)
                    .collect();
                    let mut search = CutSearch::new(min, avg, seed);
                    let mut start = 0;
                    let mut lengths = Vec::new();
                    // Windows that grow in uneven steps, as a file is read.
                    let mut read = 0;
                    while start < data.len() {
                        read = data.len().min(read.max(start) + 1 + (read * 7919) % 70_001);
                        let complete = read == data.len() || read - start >= max as usize;
                        let window = &data[start..read.min(start + max as usize)];
                        if let Some(length) = search.cut(window, start as u64, complete) {
                            lengths.push(length);
                            start += length;
                        }
                    }
                    assert_eq!(
                        lengths, expected,
                        "sizes {min} {avg} {max}, alphabet {alphabet}, seed {seed}"
                    );
                }
            }
        }
    }
}
