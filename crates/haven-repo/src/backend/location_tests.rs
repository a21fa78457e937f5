use std::collections::HashMap;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn redact_removes_user_info() {
    assert_eq!(
        redact_url("webdav://alice:s3cret@host:8080/repo"),
        "webdav://host:8080/repo"
    );
    assert_eq!(
        redact_url("webdavs://alice@host/repo"),
        "webdavs://host/repo"
    );
    assert_eq!(redact_url("s3://bucket/prefix"), "s3://bucket/prefix");
    assert_eq!(redact_url("/plain/path"), "/plain/path");
    // The path may contain `@`; only the authority is cut.
    assert_eq!(redact_url("webdav://host/a@b"), "webdav://host/a@b");
    assert_eq!(redact_url("webdav://u:p@ss@host/x"), "webdav://host/x");
}

#[test]
fn s3_reads_bucket_prefix_and_environment() {
    let env = env_of(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
        ("AWS_REGION", "eu-west-1"),
    ]);
    let location = parse_s3("s3://backups/phone/haven", &env).unwrap();
    assert_eq!(location.bucket, "backups");
    assert_eq!(location.root, "/phone/haven/");
    assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(location.region.as_deref(), Some("eu-west-1"));
}

#[test]
fn s3_query_overrides_environment() {
    let env = env_of(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("AWS_REGION", "eu-west-1"),
    ]);
    let location = parse_s3("s3://b?endpoint=http://127.0.0.1:7000&region=auto", &env).unwrap();
    assert_eq!(location.root, "/");
    assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:7000"));
    assert_eq!(location.region.as_deref(), Some("auto"));
}

#[test]
fn s3_rejects_bad_urls() {
    let env = env_of(&[]);
    let cases = [
        ("s3:///prefix", "no bucket"),
        ("s3://key:secret@bucket/x", "credentials"),
        ("s3://bucket:9000/x", "port"),
        ("s3://bucket/x?access_key=a", "unknown query parameter"),
        ("s3://bucket/x?endpoint=ftp://host", "http:// or https://"),
    ];
    for (url, expected) in cases {
        let err = parse_s3(url, &env).unwrap_err();
        assert!(err.contains(expected), "{url}: {err}");
        assert!(
            !err.contains("secret"),
            "{url}: error repeats a credential: {err}"
        );
    }
}

#[test]
fn webdav_takes_credentials_from_url_first() {
    let env = env_of(&[(WEBDAV_USER_VAR, "bob"), (WEBDAV_PASSWORD_VAR, "env-pass")]);
    let location = parse_webdav("webdav://alice:p%40ss@127.0.0.1:8080/dav/repo/", &env).unwrap();
    assert_eq!(location.endpoint, "http://127.0.0.1:8080");
    assert_eq!(location.root, "/dav/repo/");
    assert_eq!(location.user.as_deref(), Some("alice"));
    assert_eq!(
        location.password.as_deref().map(String::as_str),
        Some("p@ss")
    );
}

#[test]
fn webdav_falls_back_to_environment() {
    let env = env_of(&[(WEBDAV_USER_VAR, "bob"), (WEBDAV_PASSWORD_VAR, "env-pass")]);
    let location = parse_webdav("webdavs://files.example/repo", &env).unwrap();
    assert_eq!(location.endpoint, "https://files.example");
    assert_eq!(location.user.as_deref(), Some("bob"));
    assert_eq!(
        location.password.as_deref().map(String::as_str),
        Some("env-pass")
    );
}

#[test]
fn webdav_debug_hides_password() {
    let env = env_of(&[]);
    let location = parse_webdav("webdav://alice:hunter2@host/repo", &env).unwrap();
    let shown = format!("{location:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("alice"), "{shown}");
}

#[test]
fn webdav_rejects_incomplete_credentials() {
    let only_password = env_of(&[(WEBDAV_PASSWORD_VAR, "x")]);
    let err = parse_webdav("webdav://host/repo", &only_password).unwrap_err();
    assert!(err.contains(WEBDAV_USER_VAR), "{err}");

    let err = parse_webdav("webdav://:pw@host/repo", &env_of(&[])).unwrap_err();
    assert!(err.contains("no user name"), "{err}");
    assert!(!err.contains("pw"), "{err}");

    let err = parse_webdav("webdav:///repo", &env_of(&[])).unwrap_err();
    assert!(err.contains("no server"), "{err}");
}

#[test]
fn gdrive_needs_folder_and_token() {
    let env = env_of(&[(GDRIVE_TOKEN_VAR, " ya29.token \n")]);
    let location = parse_gdrive("gdrive://Backups/haven/", &env).unwrap();
    assert_eq!(location.root, "/Backups/haven/");
    assert_eq!(location.token.as_str(), "ya29.token");
    assert!(!format!("{location:?}").contains("ya29"));

    let err = parse_gdrive("gdrive://Backups", &env_of(&[])).unwrap_err();
    assert!(err.contains(GDRIVE_TOKEN_VAR), "{err}");

    for url in [
        "gdrive://",
        "gdrive:///",
        "gdrive://a//b",
        "gdrive://a/../b",
        "gdrive://x?token=1",
    ] {
        assert!(parse_gdrive(url, &env).is_err(), "{url} was accepted");
    }
}
