//! `haven whatsapp` against wa-crypt-tools 0.1.0 from PyPI and its test files.

#[allow(dead_code)]
#[path = "../../haven-whatsapp/tests/support/peer.rs"]
mod peer;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use peer::peer;

const SAMPLE_KEY_HEX: &str = "6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017";
const OTHER_KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn haven(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(args)
        .env_remove("HAVEN_WHATSAPP_KEY")
        .output()
        .expect("run haven")
}

/// Runs `haven whatsapp <command> <options> --key KEY INPUT OUTPUT`.
fn convert(command: &str, options: &[&str], key: &str, input: &Path, output: &Path) -> Output {
    let mut args = vec!["whatsapp", command];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--key", key, path(input), path(output)]);
    haven(&args)
}

fn assert_ok(run: &Output) {
    assert!(run.status.success(), "stderr: {}", text(&run.stderr));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Files in `dir`, to check that a failed command left nothing behind.
fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn decrypt_sample_with_key_file() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("msgstore.db");
    let run = haven(&[
        "whatsapp",
        "decrypt",
        "--key-file",
        path(&peer.res("encrypted_backup.key")),
        path(&peer.res("msgstore.db.crypt15")),
        path(&output),
    ]);
    assert_ok(&run);
    assert!(fs::read(&output).unwrap() == fs::read(peer.res("msgstore.db")).unwrap());
    assert!(text(&run.stdout).contains("tag and MD5 checksum verified"));
}

#[test]
fn encrypt_round_trips_with_peer() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let database = peer.res("msgstore.db");

    let ours = dir.path().join("haven.crypt15");
    let run = convert("encrypt", &[], OTHER_KEY_HEX, &database, &ours);
    assert_ok(&run);
    let by_peer = dir.path().join("wadecrypt.db");
    peer.wadecrypt([OTHER_KEY_HEX, path(&ours), path(&by_peer)]);
    assert!(fs::read(&by_peer).unwrap() == fs::read(&database).unwrap());

    let theirs = dir.path().join("wa.crypt15");
    peer.waencrypt([OTHER_KEY_HEX, path(&database), path(&theirs)]);
    let by_haven = dir.path().join("haven.db");
    let run = convert("decrypt", &[], OTHER_KEY_HEX, &theirs, &by_haven);
    assert_ok(&run);
    assert!(fs::read(&by_haven).unwrap() == fs::read(&database).unwrap());
}

#[test]
fn encrypt_with_fixed_iv_matches_waencrypt() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let database = peer.res("msgstore.db");
    let iv = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
    let golden = dir.path().join("golden.crypt15");
    peer.waencrypt([OTHER_KEY_HEX, path(&database), path(&golden), "--iv", iv]);

    let ours = dir.path().join("haven.crypt15");
    let run = convert("encrypt", &["--iv", iv], OTHER_KEY_HEX, &database, &ours);
    assert_ok(&run);
    assert!(fs::read(&ours).unwrap() == fs::read(&golden).unwrap());
}

#[test]
fn wrong_key_leaves_no_output() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("msgstore.db");
    let input = peer.res("msgstore.db.crypt15");
    let run = convert("decrypt", &[], OTHER_KEY_HEX, &input, &output);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("this key does not open this backup"),
        "{}",
        text(&run.stderr)
    );
    assert!(
        entries(dir.path()).is_empty(),
        "left behind: {:?}",
        entries(dir.path())
    );
}

#[test]
fn other_formats_are_named() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.db");
    let cases = [
        ("msgstore.db", "this is an unencrypted SQLite database"),
        (
            "msgstore.db.crypt12",
            "this is a crypt12 backup, which is not supported",
        ),
        (
            "msgstore.db.crypt14",
            "this is a crypt14 backup, which is not supported",
        ),
    ];
    for (name, expected) in cases {
        let run = convert("decrypt", &[], SAMPLE_KEY_HEX, &peer.res(name), &output);
        assert_eq!(run.status.code(), Some(1), "{name}");
        assert!(
            text(&run.stderr).contains(expected),
            "{name}: {}",
            text(&run.stderr)
        );
        assert!(!output.exists(), "{name}");
    }
}

#[test]
fn damaged_files_are_named() {
    let peer = peer();
    let sample = fs::read(peer.res("msgstore.db.crypt15")).unwrap();
    let len = sample.len();
    let version = sample.windows(9).position(|w| w == b"2.22.5.13").unwrap();
    let iv = sample.windows(2).position(|w| w == [0x0a, 0x10]).unwrap() + 2;
    let flip = |offset: usize| {
        let mut bytes = sample.clone();
        bytes[offset] ^= 0x01;
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated header",
            sample[..40].to_vec(),
            "the file is truncated: its header",
        ),
        (
            "truncated body",
            sample[..len / 3].to_vec(),
            "the file is truncated",
        ),
        (
            "header bit",
            flip(version),
            "the header is damaged outside its IV",
        ),
        (
            "iv bit",
            flip(iv + 15),
            "the IV in the header is damaged: with bit 127",
        ),
        (
            "body bit",
            flip(len / 2),
            "the encrypted content is damaged",
        ),
        (
            "tag bit",
            flip(len - 17),
            "the GCM tag (the 16 bytes before the MD5 checksum) is damaged",
        ),
        (
            "checksum bit",
            flip(len - 1),
            "the MD5 checksum in the last 16 bytes is damaged",
        ),
    ];
    for (name, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.crypt15");
        fs::write(&input, &bytes).unwrap();
        let output = dir.path().join("out.db");
        let run = convert("decrypt", &[], SAMPLE_KEY_HEX, &input, &output);
        assert_eq!(run.status.code(), Some(3), "{name}: {}", text(&run.stderr));
        assert!(
            text(&run.stderr).contains(expected),
            "{name}: {}",
            text(&run.stderr)
        );
        assert_eq!(
            entries(dir.path()),
            vec![input.clone()],
            "{name}: files left behind"
        );
    }
}

#[test]
fn ignore_checksum_decrypts_damaged_checksum() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(peer.res("msgstore.db.crypt15")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let input = dir.path().join("in.crypt15");
    fs::write(&input, &bytes).unwrap();
    let output = dir.path().join("out.db");
    let run = convert(
        "decrypt",
        &["--ignore-checksum"],
        SAMPLE_KEY_HEX,
        &input,
        &output,
    );
    assert_ok(&run);
    assert!(fs::read(&output).unwrap() == fs::read(peer.res("msgstore.db")).unwrap());
}

#[test]
fn existing_output_is_kept() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("msgstore.db");
    fs::write(&output, b"keep me").unwrap();
    let input = peer.res("msgstore.db.crypt15");
    let args = [
        "whatsapp",
        "decrypt",
        "--key",
        SAMPLE_KEY_HEX,
        path(&input),
        path(&output),
    ];
    let run = haven(&args);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("--force"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(fs::read(&output).unwrap(), b"keep me");

    let mut forced = args.to_vec();
    forced.push("--force");
    let run = haven(&forced);
    assert_ok(&run);
    assert!(fs::read(&output).unwrap() == fs::read(peer.res("msgstore.db")).unwrap());
}

#[test]
fn info_shows_header_and_key_match() {
    let peer = peer();
    let input = peer.res("msgstore.db.crypt15");
    let run = haven(&["whatsapp", "info", path(&input)]);
    assert_ok(&run);
    let stdout = text(&run.stdout);
    for expected in [
        "app version:    2.22.5.13",
        "phone suffix:   67",
        "iv:             c395ee009cf8b68ac0ea760550f6559c",
        "features:       5 7 8 13 14 19 22 25 28 30 31 32 36 37",
        "checksum:       MD5 matches",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("key:"), "{stdout}");

    let run = haven(&["whatsapp", "info", path(&input), "--key", SAMPLE_KEY_HEX]);
    assert_ok(&run);
    assert!(text(&run.stdout).contains("key:            opens this backup"));

    let run = haven(&["whatsapp", "info", path(&input), "--key", OTHER_KEY_HEX]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stdout).contains("key:            does not open this backup"));
    assert!(text(&run.stderr).contains("this key does not open this backup"));
}

#[test]
fn key_from_environment_is_used() {
    let peer = peer();
    let run = Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["whatsapp", "info", path(&peer.res("msgstore.db.crypt15"))])
        .env("HAVEN_WHATSAPP_KEY", SAMPLE_KEY_HEX)
        .output()
        .unwrap();
    assert_ok(&run);
    assert!(text(&run.stdout).contains("key:            opens this backup"));
}
