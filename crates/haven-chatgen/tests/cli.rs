//! The `haven-chatgen` binary, run as a user would.

use std::process::Command;

fn chatgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_haven-chatgen"))
}

#[test]
fn cli_generate_day_write_check() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("set");
    let dir_arg = dir.to_str().unwrap();

    let output = chatgen()
        .args(["generate", "--out", dir_arg, "--size", "2MB", "--seed", "3"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("messages inserted:"));

    let output = chatgen()
        .args([
            "day",
            "--dir",
            dir_arg,
            "--seed",
            "3",
            "--messages",
            "50",
            "--status-updates",
            "5",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("messages inserted:   50"), "{stdout}");
    assert!(stdout.contains("status updates:      5"), "{stdout}");

    let output = chatgen()
        .args([
            "write",
            "--dir",
            dir_arg,
            "--transactions",
            "3",
            "--journal",
            "delete",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("committed 3"), "{stdout}");

    let db = dir.join("databases/msgstore.db");
    let output = chatgen()
        .args(["check-writer-log", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok: 3 transactions"));
}

#[test]
fn cli_rejects_bad_size() {
    let temp = tempfile::tempdir().unwrap();
    let output = chatgen()
        .args([
            "generate",
            "--out",
            temp.path().to_str().unwrap(),
            "--size",
            "200XB",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid size \"200XB\""), "{stderr}");
    assert!(stderr.contains("200MB"), "{stderr}");
}
