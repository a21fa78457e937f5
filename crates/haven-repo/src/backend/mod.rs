//! Storage backends behind [`crate::Storage`]: URL parsing per service, the HTTP
//! transport, retries, complete listings and test fault injection.
//!
//! Every location, a local folder included, gets the same layer stack:
//!
//! ```text
//! Storage -> ListLayer -> RetryLayer -> OpenDAL service -> Transport (HTTP services)
//! ```
//!
//! The transport applies the per-request timeout, honours `Retry-After`, turns
//! credential and bucket failures into errors that say what to check, and injects
//! faults when a [`FaultPlan`] is set.

mod direct;
mod faults;
mod folders;
mod list;
mod location;
mod retry;
mod services;
mod stats;
mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opendal::Operator;

pub use faults::{FaultKind, FaultPlan, ListFault, RequestClass, FAULTS_VAR};
pub use location::{redact_url, GDRIVE_TOKEN_VAR, WEBDAV_PASSWORD_VAR, WEBDAV_USER_VAR};
pub use stats::{FaultCounts, StorageStats};

pub(crate) use direct::{
    clear_direct, read as read_direct, set_direct, temp_name, write as write_direct, Direct, ALIGN,
    MIN_DIRECT_LEN,
};
pub(crate) use folders::FolderGate;
pub(crate) use stats::StatsCounters;

/// Environment variable with the per-request timeout in seconds.
pub const TIMEOUT_VAR: &str = "HAVEN_STORAGE_TIMEOUT";
/// Environment variable with the number of retries after a temporary failure.
pub const RETRIES_VAR: &str = "HAVEN_STORAGE_RETRIES";

/// How a storage location is reached: timeouts, retry budget, and the variables
/// that configure credentials.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// Limit for one HTTP request, from sending it to the first response byte, and
    /// for each wait between body chunks. Default 30 s.
    pub timeout: Duration,
    /// Retries after a temporary failure, per request. Default 6.
    pub retries: usize,
    /// First backoff delay; each retry doubles it, with random jitter. Default 250 ms.
    pub min_backoff: Duration,
    /// Cap on one backoff delay. Default 15 s.
    pub max_backoff: Duration,
    /// Entries per list request where the service takes a limit (S3 `max-keys`).
    /// `None` keeps the service default (1000 on S3).
    pub list_page_size: Option<usize>,
    /// Variables that take precedence over the process environment, such as
    /// `AWS_ACCESS_KEY_ID` or `HAVEN_WEBDAV_PASSWORD`: an app that embeds this
    /// library passes credentials here instead of through its environment.
    pub environment: BTreeMap<String, String>,
    /// Faults to inject into HTTP requests. For tests only: it makes storage fail.
    pub faults: Option<FaultPlan>,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 6,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            list_page_size: None,
            environment: BTreeMap::new(),
            faults: None,
        }
    }
}

impl BackendOptions {
    /// Defaults, with `HAVEN_STORAGE_TIMEOUT` (seconds) and `HAVEN_STORAGE_RETRIES`
    /// applied when set. With the `fault-injection` feature, `HAVEN_FAULTS` sets
    /// [`BackendOptions::faults`].
    ///
    /// An unparsable value is an error that names the variable.
    pub fn from_env() -> Result<Self, String> {
        let mut options = Self::default();
        if let Some(text) = std::env::var(TIMEOUT_VAR).ok().filter(|v| !v.is_empty()) {
            let seconds = text
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| {
                    format!("{TIMEOUT_VAR}={text:?} is not a positive number of seconds")
                })?;
            options.timeout = Duration::from_secs_f64(seconds);
        }
        if let Some(text) = std::env::var(RETRIES_VAR).ok().filter(|v| !v.is_empty()) {
            options.retries = text
                .parse()
                .map_err(|_| format!("{RETRIES_VAR}={text:?} is not a whole number"))?;
        }
        #[cfg(feature = "fault-injection")]
        if let Some(text) = std::env::var(FAULTS_VAR).ok().filter(|v| !v.is_empty()) {
            let plan = text.parse().map_err(|e| format!("{FAULTS_VAR}: {e}"))?;
            tracing::warn!(%plan, "storage fault injection is on");
            options.faults = Some(plan);
        }
        Ok(options)
    }

    /// Looks a variable up in [`BackendOptions::environment`], then in the process.
    pub(crate) fn var(&self, name: &str) -> Option<String> {
        self.environment
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }
}

/// An operator with the layer stack applied, and its counters.
pub(crate) struct Backend {
    pub operator: Operator,
    pub stats: Arc<StatsCounters>,
}

/// True for the URL schemes served by [`open_remote`].
pub(crate) fn is_remote_scheme(scheme: &str) -> bool {
    matches!(scheme, "s3" | "webdav" | "webdavs" | "gdrive")
}

/// Opens an `s3://`, `webdav://`, `webdavs://` or `gdrive://` location. Errors are
/// the reason only; the caller adds the redacted URL.
pub(crate) fn open_remote(
    scheme: &str,
    url: &str,
    options: &BackendOptions,
) -> Result<Backend, String> {
    let stats = Arc::new(StatsCounters::default());
    let (operator, native_recursive) = match scheme {
        "s3" => (services::s3(url, options, stats.clone())?, true),
        "webdav" | "webdavs" => (services::webdav(url, options, stats.clone())?, false),
        "gdrive" => (services::gdrive(url, options, stats.clone())?, true),
        other => return Err(format!("{other}:// is not a remote storage scheme")),
    };
    Ok(with_layers(operator, options, native_recursive, stats))
}

/// Applies the layer stack to a local operator (folder or memory).
pub(crate) fn layered(operator: Operator, options: &BackendOptions) -> Backend {
    with_layers(operator, options, false, Arc::new(StatsCounters::default()))
}

fn with_layers(
    operator: Operator,
    options: &BackendOptions,
    native_recursive: bool,
    stats: Arc<StatsCounters>,
) -> Backend {
    let operator = operator
        .layer(retry::retry_layer(options, stats.clone()))
        .layer(list::ListLayer {
            native_recursive,
            page_size: options.list_page_size,
        });
    Backend { operator, stats }
}
