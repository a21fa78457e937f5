//! Memory held while a folder of small files is restored whose blobs lie far apart
//! in their packs, so that each blob is loaded by a range read of its own.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{new_repo, quiet_options, random_bytes};
use haven_repo::RestoreOptions;

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            add(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            add(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            add(new_size);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn peak_resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scattered_small_files_hold_little_memory() {
    const FILES: u64 = 300;
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    std::fs::create_dir_all(&source).unwrap();
    // Each small file is followed in its pack by 100 KiB of a larger file, more than
    // the 64 KiB gap that one range read spans.
    for i in 0..FILES {
        std::fs::write(source.join(format!("f{i:03}a")), random_bytes(i, 1024)).unwrap();
        let large = random_bytes(10_000 + i, 100 * 1024);
        std::fs::write(source.join(format!("f{i:03}b")), large).unwrap();
    }
    t.repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    for i in 0..FILES {
        std::fs::remove_file(source.join(format!("f{i:03}b"))).unwrap();
    }
    let second = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();

    // Resets the peak resident size (Linux 4.0 and later).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let before = LIVE.load(Ordering::Relaxed);
    let target = t.dir.path().join("target");
    let report = t
        .repo
        .restore(&second.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let resident = peak_resident_kib();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    eprintln!(
        "restored {} KiB of small files; peak heap growth {} MiB; peak resident {} MiB",
        FILES,
        peak >> 20,
        resident >> 10
    );
    assert!(
        peak < 64 << 20,
        "restoring {FILES} KiB of small files held {} MiB of heap at once",
        peak >> 20
    );
}
