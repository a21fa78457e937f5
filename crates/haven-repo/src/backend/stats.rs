//! Counters of retries, throttling waits and injected faults for one storage location.

use std::sync::atomic::{AtomicU64, Ordering};

use super::faults::RequestClass;

/// Live counters shared by the retry layer and the HTTP transport.
#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    retries: AtomicU64,
    throttled: AtomicU64,
    faults: [AtomicU64; 5],
}

impl StatsCounters {
    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_throttle(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_fault(&self, class: RequestClass) {
        self.faults[class.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StorageStats {
        let fault = |class: RequestClass| self.faults[class.index()].load(Ordering::Relaxed);
        StorageStats {
            retries: self.retries.load(Ordering::Relaxed),
            throttled_waits: self.throttled.load(Ordering::Relaxed),
            faults: FaultCounts {
                read: fault(RequestClass::Read),
                write: fault(RequestClass::Write),
                list: fault(RequestClass::List),
                delete: fault(RequestClass::Delete),
                stat: fault(RequestClass::Stat),
            },
        }
    }
}

/// Totals since a [`crate::Storage`] was opened; clones of a storage share them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Storage requests retried after a temporary failure (429, 5xx, timeout,
    /// connection error, short body).
    pub retries: u64,
    /// Requests held back because the server sent `Retry-After`.
    pub throttled_waits: u64,
    /// Faults injected by a [`crate::FaultPlan`], per operation.
    pub faults: FaultCounts,
}

/// Injected faults per kind of storage request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub read: u64,
    pub write: u64,
    pub list: u64,
    pub delete: u64,
    pub stat: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.read + self.write + self.list + self.delete + self.stat
    }
}
