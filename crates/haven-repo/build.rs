//! Tells the crate whether the bundled SQLite is built with the snapshot interface and
//! the `sqlite_dbpage` table. libsqlite3-sys reads its extra C flags from the same
//! `LIBSQLITE3_FLAGS` variable, which the workspace's `.cargo/config.toml` sets.
//! Without them, backups copy WAL-mode databases as they copy any other.

fn main() {
    println!("cargo::rerun-if-env-changed=LIBSQLITE3_FLAGS");
    println!("cargo::rustc-check-cfg=cfg(sqlite_snapshot)");
    let flags = std::env::var("LIBSQLITE3_FLAGS").unwrap_or_default();
    let has = |name: &str| {
        flags
            .split_whitespace()
            .map(|flag| flag.strip_prefix("-D").unwrap_or(flag))
            .any(|flag| flag == name || flag == format!("{name}=1"))
    };
    if has("SQLITE_ENABLE_SNAPSHOT") && has("SQLITE_ENABLE_DBPAGE_VTAB") {
        println!("cargo::rustc-cfg=sqlite_snapshot");
    }
}
