//! Parsing of remote repository URLs (`s3://`, `webdav://`, `webdavs://`, `gdrive://`)
//! into what each OpenDAL service needs, and redaction of credentials for display.
//!
//! Parsing reads no environment itself: callers pass an [`Env`] lookup, so the rules
//! are testable without touching the process environment.

use reqwest::Url;
use zeroize::Zeroizing;

/// Environment variable lookup, `std::env::var(name).ok()` outside tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Environment variable that holds the WebDAV user name.
pub const WEBDAV_USER_VAR: &str = "HAVEN_WEBDAV_USER";
/// Environment variable that holds the WebDAV password.
pub const WEBDAV_PASSWORD_VAR: &str = "HAVEN_WEBDAV_PASSWORD";
/// Environment variable that holds a Google Drive OAuth access token.
pub const GDRIVE_TOKEN_VAR: &str = "HAVEN_GDRIVE_TOKEN";

/// An `s3://bucket/prefix` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Location {
    pub bucket: String,
    /// Key prefix inside the bucket, `/` for the bucket root.
    pub root: String,
    /// Endpoint from `?endpoint=`, else `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    /// Region from `?region=`, else `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
}

/// A `webdav://` or `webdavs://` location.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WebdavLocation {
    /// `http://host:port` or `https://host:port`, without user info or path.
    pub endpoint: String,
    /// Folder on the server, `/` for the server root.
    pub root: String,
    pub user: Option<String>,
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for WebdavLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebdavLocation")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A `gdrive://folder` location.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct GdriveLocation {
    /// Folder path under "My Drive", for example `/Backups/haven`.
    pub root: String,
    pub token: Zeroizing<String>,
}

impl std::fmt::Debug for GdriveLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdriveLocation")
            .field("root", &self.root)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Returns `url` with any user name and password removed, for messages and logs.
///
/// A URL that does not parse is cut at its last `@` before the path, so a malformed
/// URL with credentials still prints none.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            return format!(
                "{scheme}://{}{}",
                &authority[at + 1..],
                &rest[authority_end..]
            );
        }
    }
    url.to_string()
}

/// Parses `s3://bucket[/prefix][?region=R&endpoint=URL]`.
pub(crate) fn parse_s3(url: &str, env: Env<'_>) -> Result<S3Location, String> {
    let parsed =
        Url::parse(url).map_err(|e| format!("not a valid URL ({e}); write s3://bucket/prefix"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "credentials do not belong in an s3:// URL; set AWS_ACCESS_KEY_ID and \
                    AWS_SECRET_ACCESS_KEY or use an AWS config file"
                .into(),
        );
    }
    let bucket = parsed.host_str().unwrap_or_default().to_string();
    if bucket.is_empty() {
        return Err("the URL names no bucket; write s3://bucket/prefix".into());
    }
    if parsed.port().is_some() {
        return Err(
            "an s3:// URL has no port; give the server as ?endpoint=http://host:port or \
                    in AWS_ENDPOINT_URL"
                .into(),
        );
    }
    let mut endpoint = None;
    let mut region = None;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "endpoint" => endpoint = Some(value.trim_end_matches('/').to_string()),
            "region" => region = Some(value.to_string()),
            other => {
                return Err(format!(
                "unknown query parameter {other:?}; an s3:// URL accepts only endpoint and region"
            ))
            }
        }
    }
    let endpoint = endpoint.or_else(|| {
        env("AWS_ENDPOINT_URL")
            .filter(|v| !v.is_empty())
            .map(|v| v.trim_end_matches('/').to_string())
    });
    if let Some(endpoint) = &endpoint {
        check_http_endpoint(endpoint)?;
    }
    let region = region.or_else(|| {
        env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .filter(|v| !v.is_empty())
    });
    Ok(S3Location {
        bucket,
        root: root_from_path(parsed.path()),
        endpoint,
        region,
    })
}

/// Parses `webdav://[user[:password]@]host[:port]/path` (or `webdavs://` for HTTPS).
/// User info in the URL wins over `HAVEN_WEBDAV_USER` / `HAVEN_WEBDAV_PASSWORD`.
pub(crate) fn parse_webdav(url: &str, env: Env<'_>) -> Result<WebdavLocation, String> {
    let parsed = Url::parse(url)
        .map_err(|e| format!("not a valid URL ({e}); write webdav://host:port/path"))?;
    let http_scheme = match parsed.scheme() {
        "webdav" => "http",
        "webdavs" => "https",
        other => return Err(format!("{other}:// is not a WebDAV scheme")),
    };
    let host = parsed.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("the URL names no server; write webdav://host:port/path".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("a webdav:// URL takes no query or fragment".into());
    }
    let endpoint = match parsed.port() {
        Some(port) => format!("{http_scheme}://{host}:{port}"),
        None => format!("{http_scheme}://{host}"),
    };
    let url_user = percent_decode(parsed.username())?;
    let url_password = parsed
        .password()
        .map(percent_decode)
        .transpose()?
        .map(Zeroizing::new);
    let (user, password) = if !url_user.is_empty() {
        (Some(url_user), url_password)
    } else if url_password.is_some() {
        return Err(
            "the URL has a password but no user name; write webdav://user:password@host/path"
                .into(),
        );
    } else {
        let user = env(WEBDAV_USER_VAR).filter(|v| !v.is_empty());
        let password = env(WEBDAV_PASSWORD_VAR).map(Zeroizing::new);
        if user.is_none() && password.is_some() {
            return Err(format!(
                "{WEBDAV_PASSWORD_VAR} is set but {WEBDAV_USER_VAR} is not; set both"
            ));
        }
        (user, password)
    };
    Ok(WebdavLocation {
        endpoint,
        root: root_from_path(parsed.path()),
        user,
        password,
    })
}

/// Parses `gdrive://folder[/subfolder…]`, a folder under "My Drive", with the access
/// token from `HAVEN_GDRIVE_TOKEN`.
pub(crate) fn parse_gdrive(url: &str, env: Env<'_>) -> Result<GdriveLocation, String> {
    let rest = url
        .strip_prefix("gdrive://")
        .ok_or_else(|| "a Google Drive URL starts with gdrive://".to_string())?;
    if rest.contains(['?', '#', '@']) {
        return Err(
            "a gdrive:// URL is only a folder path; give the token in HAVEN_GDRIVE_TOKEN".into(),
        );
    }
    let folder = rest.trim_matches('/');
    if folder.is_empty() {
        return Err(
            "the URL names no folder; write gdrive://folder so the repository does not \
                    fill the top of My Drive"
                .into(),
        );
    }
    if folder
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(format!(
            "folder path {folder:?} has an empty, `.` or `..` component"
        ));
    }
    let token = env(GDRIVE_TOKEN_VAR)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "{GDRIVE_TOKEN_VAR} is not set; set it to an OAuth access token with Drive scope"
            )
        })?;
    Ok(GdriveLocation {
        root: format!("/{folder}/"),
        token: Zeroizing::new(token.trim().to_string()),
    })
}

fn check_http_endpoint(endpoint: &str) -> Result<(), String> {
    let parsed = Url::parse(endpoint).map_err(|e| {
        format!(
            "endpoint {:?} is not a valid URL ({e})",
            redact_url(endpoint)
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "endpoint {:?} must be an http:// or https:// URL with a host",
            redact_url(endpoint)
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "the endpoint URL must not carry credentials; set AWS_ACCESS_KEY_ID and \
                    AWS_SECRET_ACCESS_KEY instead"
                .into(),
        );
    }
    Ok(())
}

/// Turns a URL path into an OpenDAL root: percent-decoded, with leading and trailing `/`.
fn root_from_path(path: &str) -> String {
    let decoded = percent_decode(path).unwrap_or_else(|_| path.to_string());
    let trimmed = decoded.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}/")
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "the URL has an invalid percent escape".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL decodes to invalid UTF-8".to_string())
}

#[cfg(test)]
#[path = "location_tests.rs"]
mod tests;
