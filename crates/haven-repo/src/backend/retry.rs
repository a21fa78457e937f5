//! Retries through OpenDAL's `RetryLayer`: exponential backoff with jitter on every
//! error OpenDAL marks temporary, counted and logged.
//!
//! Temporary errors are HTTP 429 and 5xx, request timeouts, connection errors and
//! response bodies shorter than announced (see `transport.rs`). Reads resume at the
//! offset already received; each list page request is retried on its own. After
//! the last attempt the error is marked persistent and reaches the caller, which
//! names the object.

use std::sync::Arc;

use opendal::layers::{RetryEvent, RetryInterceptor, RetryLayer};

use super::stats::StatsCounters;
use super::BackendOptions;

pub(crate) fn retry_layer(
    options: &BackendOptions,
    stats: Arc<StatsCounters>,
) -> RetryLayer<RetryLog> {
    RetryLayer::new()
        .with_jitter()
        .with_min_delay(options.min_backoff)
        .with_max_delay(options.max_backoff)
        .with_max_times(options.retries)
        .with_notify(RetryLog { stats })
}

/// Counts each retry and logs it with the error that caused it.
pub(crate) struct RetryLog {
    stats: Arc<StatsCounters>,
}

impl RetryInterceptor for RetryLog {
    fn intercept(&self, event: RetryEvent<'_>) {
        self.stats.record_retry();
        tracing::warn!(
            operation = event.op.into_static(),
            attempt = event.attempt,
            delay_ms = event.retry_after.as_millis() as u64,
            error = %event.err,
            "retrying storage request"
        );
    }
}
