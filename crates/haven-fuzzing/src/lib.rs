//! Entry points of the fuzz targets in `fuzz/`: one function per target, each taking
//! the fuzzer's input bytes. The cargo-fuzz targets call these functions, and the
//! test `tests/replay.rs` runs every committed corpus and regression input through
//! them, so CI replays the inputs without cargo-fuzz.
//!
//! A function returns normally for any input that the code under test rejects with
//! an error. It panics only when the code under test panics or when a property it
//! checks does not hold (for example, chunks that do not join back to the input).

mod jwt;
mod repo;
mod samples;
mod vault;
mod whatsapp;

pub use jwt::{sign_hs256, tenants as jwt_tenants};
pub use samples::sample_inputs;

/// A fuzz target: its name (the cargo-fuzz binary and corpus folder) and entry point.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    /// True when random input reaches the parser without a key, so long runs count.
    pub keyless: bool,
}

/// Every fuzz target, in the order the CI fuzz pass runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "repo_config",
        run: repo::config,
        keyless: true,
    },
    Target {
        name: "repo_config_plain",
        run: repo::config_plain,
        keyless: false,
    },
    Target {
        name: "repo_slot",
        run: repo::slot,
        keyless: true,
    },
    Target {
        name: "repo_slot_body",
        run: repo::slot_body,
        keyless: false,
    },
    Target {
        name: "repo_pack",
        run: repo::pack,
        keyless: true,
    },
    Target {
        name: "repo_pack_plain",
        run: repo::pack_plain,
        keyless: false,
    },
    Target {
        name: "repo_index",
        run: repo::index,
        keyless: true,
    },
    Target {
        name: "repo_index_plain",
        run: repo::index_plain,
        keyless: false,
    },
    Target {
        name: "repo_tree",
        run: repo::tree,
        keyless: true,
    },
    Target {
        name: "repo_tree_plain",
        run: repo::tree_plain,
        keyless: false,
    },
    Target {
        name: "repo_content_list_plain",
        run: repo::content_list_plain,
        keyless: false,
    },
    Target {
        name: "repo_row_increment_plain",
        run: repo::row_increment_plain,
        keyless: false,
    },
    Target {
        name: "repo_snapshot",
        run: repo::snapshot,
        keyless: true,
    },
    Target {
        name: "repo_snapshot_plain",
        run: repo::snapshot_plain,
        keyless: false,
    },
    Target {
        name: "repo_chunker",
        run: repo::chunker,
        keyless: true,
    },
    Target {
        name: "repo_sqlite_pages",
        run: repo::sqlite_pages,
        keyless: true,
    },
    Target {
        name: "vault_request",
        run: vault::request,
        keyless: true,
    },
    Target {
        name: "vault_opaque",
        run: vault::opaque,
        keyless: true,
    },
    Target {
        name: "jwt_verify",
        run: jwt::verify,
        keyless: true,
    },
    Target {
        name: "jwt_claims",
        run: jwt::claims,
        keyless: false,
    },
    Target {
        name: "crypt15_header",
        run: whatsapp::header,
        keyless: true,
    },
];

/// Returns the target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}
