//! A scheduling hint for a thread that mostly waits on the disk.
//!
//! The write thread of [`crate::direct_writer`] issues one direct write at a time.
//! While the sealing threads keep both cores of the benchmark VM busy, that thread
//! waited for a core each time a write finished, and the disk sat idle until it got
//! one: about 100 ms of a 500 ms raw backup of 500 MB (`perf sched timehist`). Linux
//! 6.12 lets a thread of the normal policy request a shorter time slice, and a thread
//! with a shorter slice preempts a busier one when it wakes.
//!
//! NOTE: older kernels are expected to ignore the field; only 6.18 was tested.

use std::io;

/// The requested slice, the shortest the kernel grants: 0.1 ms.
pub(crate) const SLICE_NS: u64 = 100_000;

/// Requests a short time slice for the calling thread.
pub(crate) fn ask_short_slice() -> io::Result<()> {
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: SLICE_NS,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: `attr` is a valid `sched_attr` whose `size` field gives its length, and
    // the kernel only reads it. Thread id 0 is the calling thread.
    let result = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const libc::sched_attr,
            0,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the calling thread's scheduling attributes.
    fn current() -> libc::sched_attr {
        // SAFETY: all-zero bytes are a valid `sched_attr`.
        let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::sched_attr>() as u32;
        // SAFETY: `attr` is writable for `size` bytes, and thread id 0 is this thread.
        let result = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut attr as *mut libc::sched_attr,
                size,
                0,
            )
        };
        assert_eq!(result, 0, "sched_getattr: {}", io::Error::last_os_error());
        attr
    }

    #[test]
    fn ask_short_slice_keeps_policy() {
        std::thread::spawn(|| {
            let before = current();
            ask_short_slice().expect("sched_setattr");
            let after = current();
            assert_eq!(after.sched_policy, libc::SCHED_OTHER as u32);
            assert_eq!(after.sched_nice, before.sched_nice);
            // Kernels before 6.12 report no slice for the normal policy.
            if before.sched_runtime != 0 {
                assert_eq!(after.sched_runtime, SLICE_NS);
            }
        })
        .join()
        .unwrap();
    }
}
