//! The vault refuses to start, and says why, when its key-encryption key is
//! missing or wrong: a missing key file, another vault's key file, a SoftHSM2 token
//! with the wrong PIN or without the key. It also refuses plain HTTP off loopback.

mod vault_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vault_support::{haven, run_ok, VaultDir};

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const INSTALL_HINT: &str = "SoftHSM2 is required: run `apt-get install softhsm2`";

/// Runs `haven vault serve` that must exit with an error; returns its stderr.
fn serve_fails(mut command: Command) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haven starts");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert!(!status.success(), "serve exited with success: {stderr}");
            return stderr;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("haven vault serve started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve_command(vault: &VaultDir, data: &Path) -> Command {
    let mut command = haven();
    command
        .args(["vault", "serve", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(data)
        .arg("--tenants")
        .arg(vault.path("tenants.json"));
    command
}

#[test]
fn key_file_missing_or_wrong_refused() {
    let vault = VaultDir::new();
    let stderr = serve_fails({
        let mut command = serve_command(&vault, &vault.path("data"));
        command.arg("--kek-file").arg(vault.path("no-such.key"));
        command
    });
    assert!(stderr.contains("not found"), "{stderr}");
    assert!(stderr.contains("no-such.key"), "{stderr}");

    let other = VaultDir::new();
    let stderr = serve_fails({
        let mut command = serve_command(&vault, &vault.path("data"));
        command.arg("--kek-file").arg(other.path("kek.key"));
        command
    });
    assert!(stderr.contains("did not unwrap"), "{stderr}");
}

#[test]
fn plain_http_off_loopback_refused() {
    let vault = VaultDir::new();
    let stderr = serve_fails({
        let mut command = haven();
        command
            .args(["vault", "serve", "--listen", "0.0.0.0:0"])
            .arg("--data")
            .arg(vault.path("data"))
            .arg("--kek-file")
            .arg(vault.path("kek.key"))
            .arg("--tenants")
            .arg(vault.path("tenants.json"));
        command
    });
    assert!(stderr.contains("refusing to serve plain HTTP"), "{stderr}");
}

#[test]
fn softhsm_wrong_pin_or_missing_key_refused() {
    assert!(Path::new(SOFTHSM_MODULE).exists(), "{INSTALL_HINT}");
    let vault = VaultDir::new();
    let tokens = vault.path("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = vault.path("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "vault-hsm",
            "--pin",
            "1234-user",
            "--so-pin",
            "5678-so",
        ])
        .output()
        .unwrap_or_else(|error| panic!("softhsm2-util failed to run ({error}); {INSTALL_HINT}"));
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    std::fs::write(vault.path("pin"), "1234-user\n").unwrap();
    std::fs::write(vault.path("wrong-pin"), "9999-user\n").unwrap();

    let hsm_data = vault.path("hsm-data");
    let out = run_ok(
        haven()
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "vault",
                "init",
                "--vault-id",
                "vault-hsm",
                "--pkcs11-token-label",
                "vault-hsm",
            ])
            .arg("--data")
            .arg(&hsm_data)
            .arg("--pkcs11-pin-file")
            .arg(vault.path("pin")),
    );
    assert!(out.contains("fingerprint "), "{out}");

    let hsm_serve = |pin: &str, key_label: Option<&str>| {
        let mut command = serve_command(&vault, &hsm_data);
        command
            .env("SOFTHSM2_CONF", &conf)
            .args(["--pkcs11-token-label", "vault-hsm"])
            .arg("--pkcs11-pin-file")
            .arg(vault.path(pin));
        if let Some(label) = key_label {
            command.args(["--pkcs11-key-label", label]);
        }
        command
    };
    let stderr = serve_fails(hsm_serve("wrong-pin", None));
    assert!(
        stderr.contains("PIN") && stderr.contains("wrong"),
        "{stderr}"
    );
    let stderr = serve_fails(hsm_serve("pin", Some("no-such-key")));
    assert!(stderr.contains("no AES key labelled"), "{stderr}");

    // The right PIN starts the vault.
    let mut child = hsm_serve("pin", None)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("listening on http://127.0.0.1:"),
        "{line:?}"
    );
}
