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

/// Requests a short time slice for the calling thread. Its policy, nice value and
/// other attributes stay as they are. A thread of any other policy (idle,
/// real-time, deadline) is left alone.
pub(crate) fn ask_short_slice() -> io::Result<()> {
    let mut attr = current()?;
    let policy = attr.sched_policy as i32;
    if policy != libc::SCHED_OTHER && policy != libc::SCHED_BATCH {
        return Ok(());
    }
    attr.size = std::mem::size_of::<libc::sched_attr>() as u32;
    attr.sched_flags &= libc::SCHED_FLAG_RESET_ON_FORK as u64;
    attr.sched_runtime = SLICE_NS;
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

/// Reads the calling thread's scheduling attributes.
fn current() -> io::Result<libc::sched_attr> {
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
    if result == 0 {
        Ok(attr)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_short_slice_keeps_policy_and_nice() {
        std::thread::spawn(|| {
            let before = match current() {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    eprintln!("skipped: this kernel or sandbox has no sched_getattr");
                    return;
                }
                attr => attr.expect("sched_getattr"),
            };
            // One step nicer than the test process, as `nice` would give, so that a
            // reset to 0 shows. Raising the value needs no privilege.
            let target = (before.sched_nice + 1).min(19);
            // SAFETY: plain system calls on the calling thread.
            let raised = unsafe {
                let thread = libc::gettid() as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, thread, target)
            };
            assert_eq!(raised, 0, "setpriority: {}", io::Error::last_os_error());
            ask_short_slice().expect("sched_setattr");
            let after = current().expect("sched_getattr");
            assert_eq!(after.sched_policy, before.sched_policy);
            assert_eq!(after.sched_nice, target);
            // Kernels before 6.12 report no slice for the normal policy.
            if before.sched_runtime != 0 {
                assert_eq!(after.sched_runtime, SLICE_NS);
            }
        })
        .join()
        .unwrap();
    }
}
