//! TLS from certificate files, with HTTP/1.1 and HTTP/2 (ALPN), and HTTP/2 with prior
//! knowledge on plain loopback HTTP. Uses the `openssl` and `curl` command-line tools
//! as the certificate maker and an independent HTTP client.

mod vault_support;

use std::process::Command;

use vault_support::VaultDir;

const INSTALL_HINT: &str =
    "this test needs the openssl and curl tools: apt-get install openssl curl";

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?} failed to run ({error}); {INSTALL_HINT}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Runs curl and returns `(HTTP version, status, body)`.
fn curl(args: &[&str], url: &str) -> (String, String, String) {
    let out = run(Command::new("curl")
        .args(["-s", "-w", "\n%{http_version} %{http_code}"])
        .args(args)
        .arg(url));
    let (body, tail) = out.rsplit_once('\n').expect("curl writes the version line");
    let (version, status) = tail.split_once(' ').expect("version and status");
    (version.to_string(), status.to_string(), body.to_string())
}

#[test]
fn tls_serves_http1_and_http2() {
    let vault = VaultDir::new();
    let cert = vault.path("cert.pem");
    let key = vault.path("key.pem");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let cert_arg = cert.to_str().unwrap();
    let key_arg = key.to_str().unwrap();
    let server = vault.serve(&["--tls-cert", cert_arg, "--tls-key", key_arg]);
    let base = format!("https://{}", server.addr);

    let (version, status, body) = curl(
        &["--cacert", cert_arg, "--http2"],
        &format!("{base}/healthz"),
    );
    assert_eq!(
        (version.as_str(), status.as_str(), body.as_str()),
        ("2", "200", "ok")
    );
    let (version, status, body) = curl(
        &["--cacert", cert_arg, "--http1.1"],
        &format!("{base}/v1/info"),
    );
    assert_eq!((version.as_str(), status.as_str()), ("1.1", "200"));
    assert!(body.contains(&vault.fingerprint), "{body}");

    let token = vault.token("tls-user");
    let auth = format!("Authorization: Bearer {token}");
    let (_, status, body) = curl(
        &["--cacert", cert_arg, "--http2", "-H", &auth],
        &format!("{base}/v1/record"),
    );
    assert_eq!(status, "200", "{body}");

    // Without the CA the client rejects the certificate: this is TLS, not plain HTTP.
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null"])
        .arg(format!("{base}/healthz"))
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn plain_loopback_serves_http2_prior_knowledge() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let (version, status, body) = curl(
        &["--http2-prior-knowledge"],
        &format!("http://{}/healthz", server.addr),
    );
    assert_eq!(
        (version.as_str(), status.as_str(), body.as_str()),
        ("2", "200", "ok")
    );
}
