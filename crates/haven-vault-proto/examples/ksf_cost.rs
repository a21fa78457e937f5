//! Measures the client-side cost of one KSF evaluation (Argon2id) per parameter set.
//!
//! Run with `cargo run --release -p haven-vault-proto --example ksf_cost`.

use std::time::Instant;

use haven_vault_proto::{KsfParams, KSF_TEST_INSECURE, KSF_V1};
use opaque_ke::generic_array::GenericArray;
use opaque_ke::ksf::Ksf;

fn main() {
    for params in [KSF_V1, KSF_TEST_INSECURE] {
        let argon2 = params.argon2();
        let rounds = if params.memory_kib > 1024 { 10 } else { 200 };
        let input = GenericArray::<u8, opaque_ke::generic_array::typenum::U64>::default();
        argon2.hash(input).expect("argon2 runs");
        let started = Instant::now();
        for _ in 0..rounds {
            argon2.hash(input).expect("argon2 runs");
        }
        let per = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
        println!(
            "KSF version {}: Argon2id m={} KiB t={} p={}: {per:.2} ms per evaluation ({rounds} runs)",
            params.version, params.memory_kib, params.iterations, params.parallelism
        );
    }
    let _ = KsfParams::from_version(1);
}
