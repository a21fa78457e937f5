//! The HTTP transport under OpenDAL's S3, WebDAV and Drive services: per-request
//! timeouts, `Retry-After` handling, errors that say what to check, and test faults.
//!
//! OpenDAL's retry layer sits above this transport and retries what it returns as
//! temporary. A `Retry-After` value from a 429 or 503 response closes a gate that
//! holds back every later request of this storage until the time has passed; the
//! wait happens before the request's own timeout starts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{stream, TryStreamExt};
use http::{Request, Response, StatusCode};
use opendal::raw::{parse_content_encoding, parse_content_length, Timestamp};
use opendal::{Buffer, Error, ErrorKind, HttpBody, HttpTransport, Result};
use tokio::time::Instant;

use super::faults::{FaultInjector, FaultKind, RequestClass};
use super::stats::StatsCounters;

/// Longest `Retry-After` wait honoured; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Which service the transport talks to, for the credential hint in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    S3,
    Webdav,
    Gdrive,
}

impl ServiceKind {
    fn credential_hint(self) -> &'static str {
        match self {
            ServiceKind::S3 => {
                "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the AWS config file profile) \
                 and that they may access this bucket"
            }
            ServiceKind::Webdav => {
                "check HAVEN_WEBDAV_USER and HAVEN_WEBDAV_PASSWORD (or the user info in the URL)"
            }
            ServiceKind::Gdrive => "check HAVEN_GDRIVE_TOKEN; Drive access tokens expire after about an hour",
        }
    }
}

/// A `reqwest` transport for one storage location.
#[derive(Clone)]
pub(crate) struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// The storage URL with credentials removed, for error messages.
    location: String,
    service: ServiceKind,
    timeout: Duration,
    gate: Mutex<Option<Instant>>,
    faults: Option<FaultInjector>,
    stats: Arc<StatsCounters>,
}

impl Transport {
    pub fn new(
        client: reqwest::Client,
        location: String,
        service: ServiceKind,
        timeout: Duration,
        faults: Option<FaultInjector>,
        stats: Arc<StatsCounters>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                location,
                service,
                timeout,
                gate: Mutex::new(None),
                faults,
                stats,
            }),
        }
    }
}

impl HttpTransport for Transport {
    async fn fetch(&self, req: Request<Buffer>) -> Result<Response<HttpBody>> {
        self.inner.fetch(req).await
    }
}

impl Inner {
    async fn fetch(&self, req: Request<Buffer>) -> Result<Response<HttpBody>> {
        self.wait_for_gate().await;

        let uri = req.uri().clone();
        let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let class = RequestClass::of(req.method().as_str(), uri.query());
        let is_head = req.method() == http::Method::HEAD;
        let fault = self.faults.as_ref().and_then(|f| {
            let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            f.decide(req.method().as_str(), path_and_query, class)
        });
        if let Some(kind) = fault.filter(|k| *k != FaultKind::TruncatedBody) {
            self.stats.record_fault(class);
            tracing::debug!(?kind, ?class, %host, "injecting storage fault");
        }

        let response = match fault {
            Some(FaultKind::TooManyRequests) => {
                let retry_after = self.faults.as_ref().and_then(|f| f.plan().retry_after_secs);
                injected_response(StatusCode::TOO_MANY_REQUESTS, retry_after)
            }
            Some(FaultKind::ServerError) => {
                injected_response(StatusCode::INTERNAL_SERVER_ERROR, None)
            }
            Some(FaultKind::Timeout) => {
                let never = std::future::pending::<Result<Response<HttpBody>>>();
                return self.with_timeout(&host, never).await;
            }
            Some(FaultKind::ConnectionReset) => {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!(
                        "connection to {host} was reset before a response arrived (injected fault)"
                    ),
                )
                .set_temporary());
            }
            Some(FaultKind::TruncatedBody) | None => {
                let request = self.build_request(req)?;
                let sent = self.client.execute(request);
                self.with_timeout(&host, async {
                    sent.await.map_err(|e| send_error(&self.location, &host, e))
                })
                .await?
            }
        };

        // A truncation counts as a fault only where a body is cut (see streaming_response).
        let truncate = (fault == Some(FaultKind::TruncatedBody) && !is_head).then_some(class);
        self.check_status(&host, response, is_head, truncate).await
    }

    async fn wait_for_gate(&self) {
        let until = *self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until {
            if until > Instant::now() {
                self.stats.record_throttle();
                tokio::time::sleep_until(until).await;
            }
        }
    }

    fn close_gate(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_RETRY_AFTER);
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if gate.is_none_or(|current| current < until) {
            *gate = Some(until);
        }
    }

    async fn with_timeout<T>(
        &self,
        host: &str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "no response from {host} within {} s; check that the server is reachable \
                     (the limit is HAVEN_STORAGE_TIMEOUT)",
                    self.timeout.as_secs_f64()
                ),
            )
            .set_temporary()),
        }
    }

    fn build_request(&self, req: Request<Buffer>) -> Result<reqwest::Request> {
        let (parts, body) = req.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| {
            Error::new(ErrorKind::Unexpected, "request URL is invalid").set_source(e)
        })?;
        let mut builder = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .version(parts.version);
        if !body.is_empty() {
            builder = builder.body(body.to_bytes());
        }
        builder.build().map_err(|e| {
            Error::new(ErrorKind::Unexpected, "cannot build the HTTP request")
                .set_source(e.without_url())
        })
    }

    /// Turns throttling and credential failures into errors that name the fix, and
    /// everything else into a streaming [`HttpBody`] for the OpenDAL service.
    async fn check_status(
        &self,
        host: &str,
        response: reqwest::Response,
        is_head: bool,
        truncate: Option<RequestClass>,
    ) -> Result<Response<HttpBody>> {
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            if let Some(wait) = retry_after {
                tracing::info!(%host, status = status.as_u16(), wait_s = wait.as_secs_f64(), "storage server asked to retry later");
                self.close_gate(wait);
            }
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after
                .map(|w| format!("; it asked to retry after {} s", w.as_secs()))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::RateLimited,
                format!("{host} answered HTTP 429 Too Many Requests{wait}"),
            )
            .set_temporary());
        }
        let credentials_rejected = status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::FORBIDDEN && self.service != ServiceKind::Webdav);
        let may_be_missing_bucket =
            status == StatusCode::NOT_FOUND && self.service == ServiceKind::S3;
        if credentials_rejected || may_be_missing_bucket {
            return self.check_error_body(host, response).await;
        }
        self.streaming_response(host, response, is_head, truncate)
            .await
    }

    async fn check_error_body(
        &self,
        host: &str,
        response: reqwest::Response,
    ) -> Result<Response<HttpBody>> {
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let bytes = self
            .with_timeout(host, async {
                response.bytes().await.map_err(|e| body_error(host, e))
            })
            .await?;
        let code = xml_error_code(&bytes);
        if status == StatusCode::NOT_FOUND {
            if code.as_deref() == Some("NoSuchBucket") {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!(
                        "{}: the bucket does not exist on {host} (S3 NoSuchBucket); create it or \
                         check the bucket name in the URL",
                        self.location
                    ),
                ));
            }
            let length = bytes.len() as u64;
            let body = HttpBody::new(stream::iter([Ok(Buffer::from(bytes))]), Some(length));
            let mut rebuilt = Response::new(body);
            *rebuilt.status_mut() = status;
            *rebuilt.version_mut() = version;
            *rebuilt.headers_mut() = headers;
            return Ok(rebuilt);
        }
        let detail = code.map(|c| format!(" {c}")).unwrap_or_default();
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{}: {host} rejected the credentials (HTTP {}{detail}); {}",
                self.location,
                status.as_u16(),
                self.service.credential_hint()
            ),
        ))
    }

    async fn streaming_response(
        &self,
        host: &str,
        response: reqwest::Response,
        is_head: bool,
        truncate: Option<RequestClass>,
    ) -> Result<Response<HttpBody>> {
        let mut builder = Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let content_length = if is_head || parse_content_encoding(response.headers())?.is_some() {
            None
        } else {
            parse_content_length(response.headers())?
        };
        let body = if let Some(class) = truncate {
            let bytes = self
                .with_timeout(host, async {
                    response.bytes().await.map_err(|e| body_error(host, e))
                })
                .await?;
            if bytes.is_empty() {
                let length = Some(0).filter(|_| content_length.is_some());
                HttpBody::new(stream::iter([Ok(Buffer::new())]), length)
            } else {
                self.stats.record_fault(class);
                truncated_body(bytes, content_length)
            }
        } else {
            let host = host.to_string();
            let chunks = response
                .bytes_stream()
                .map_ok(Buffer::from)
                .map_err(move |e| body_error(&host, e));
            HttpBody::new(chunks, content_length)
        };
        builder.body(body).map_err(|e| {
            Error::new(ErrorKind::Unexpected, "cannot build the HTTP response").set_source(e)
        })
    }
}

/// A body that ends after half its bytes: with a known length, OpenDAL's body check
/// reports the short read; without one, an explicit error follows the half.
fn truncated_body(bytes: impl Into<Buffer>, content_length: Option<u64>) -> HttpBody {
    let buffer: Buffer = bytes.into();
    let half = buffer.slice(..buffer.len() / 2);
    match content_length {
        Some(length) if length > 0 => HttpBody::new(stream::iter([Ok(half)]), Some(length)),
        _ => HttpBody::new(
            stream::iter([
                Ok(half),
                Err(Error::new(
                    ErrorKind::Unexpected,
                    "response body ended early (injected fault)",
                )
                .set_temporary()),
            ]),
            None,
        ),
    }
}

fn injected_response(status: StatusCode, retry_after: Option<u64>) -> reqwest::Response {
    let mut builder = http::Response::builder().status(status);
    if let Some(seconds) = retry_after {
        builder = builder.header(http::header::RETRY_AFTER, seconds.to_string());
    }
    let body = format!(
        "<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>injected HTTP {}</Message></Error>",
        status.as_u16()
    );
    reqwest::Response::from(builder.body(body).expect("static response parts are valid"))
}

fn send_error(location: &str, host: &str, error: reqwest::Error) -> Error {
    let what = if error.is_connect() {
        format!("{location}: cannot connect to {host}; check the address and port and that the server is running")
    } else if error.is_timeout() {
        format!("{location}: request to {host} timed out")
    } else {
        format!("{location}: request to {host} failed")
    };
    Error::new(ErrorKind::Unexpected, what)
        .set_source(error.without_url())
        .set_temporary()
}

fn body_error(host: &str, error: reqwest::Error) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("reading the response from {host} failed"),
    )
    .set_source(error.without_url())
    .set_temporary()
}

/// Parses `Retry-After` as delay seconds or an HTTP date (RFC 9110, section 10.2.3).
pub(crate) fn parse_retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = Timestamp::parse_rfc2822(value).ok()?;
    let seconds = date.into_inner().as_second() - Timestamp::now().into_inner().as_second();
    Some(Duration::from_secs(seconds.max(0) as u64))
}

/// Extracts `<Code>…</Code>` from an S3 error document.
fn xml_error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim().to_string()).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));

        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));

        headers.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn xml_error_code_is_found() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>x</Message></Error>";
        assert_eq!(xml_error_code(body).as_deref(), Some("NoSuchBucket"));
        assert_eq!(xml_error_code(b"not xml"), None);
    }
}
