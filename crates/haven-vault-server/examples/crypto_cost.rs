//! Measures the server's CPU cost per request on this machine: `ServerLogin::start`
//! (one login start, real record and dummy) and bearer token verification.
//!
//! Run: `cargo run --release -p haven-vault-server --example crypto_cost`.

use std::time::{Duration, Instant};

use haven_vault_auth::{generate_tenant_key, mint, TenantAlg, TenantKeys};
use haven_vault_proto::{login_parameters, Suite, KSF_TEST_INSECURE};
use opaque_ke::{
    ClientLogin, ClientRegistration, ClientRegistrationFinishParameters, ServerLogin,
    ServerRegistration, ServerSetup,
};
use rand_core::OsRng;

fn per_call(rounds: u32, mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    for _ in 0..rounds {
        f();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn main() {
    let setup = ServerSetup::<Suite>::new(&mut OsRng);
    let id = b"acme\0alice";
    let argon2 = KSF_TEST_INSECURE.argon2();
    let start = ClientRegistration::<Suite>::start(&mut OsRng, b"pw").unwrap();
    let response = ServerRegistration::start(&setup, start.message, id).unwrap();
    let params = ClientRegistrationFinishParameters::new(
        haven_vault_proto::opaque_identifiers(id, "v"),
        Some(&argon2),
    );
    let finish = start
        .state
        .finish(&mut OsRng, b"pw", response.message, params)
        .unwrap();
    let file = ServerRegistration::finish(finish.message);
    let request = ClientLogin::<Suite>::start(&mut OsRng, b"pw")
        .unwrap()
        .message;
    let real = per_call(500, || {
        ServerLogin::start(
            &mut OsRng,
            &setup,
            Some(file.clone()),
            request.clone(),
            id,
            login_parameters(id, "v"),
        )
        .unwrap();
    });
    let dummy = per_call(500, || {
        ServerLogin::start(
            &mut OsRng,
            &setup,
            None,
            request.clone(),
            id,
            login_parameters(id, "v"),
        )
        .unwrap();
    });
    println!("ServerLogin::start: {real:.0} µs (record), {dummy:.0} µs (dummy)");

    for alg in [TenantAlg::EdDsa, TenantAlg::Hs256] {
        let (key, entry) = generate_tenant_key("acme", alg).unwrap();
        let keys = TenantKeys::from_entries(&[entry], std::path::Path::new(".")).unwrap();
        let token = mint("acme", &key, "alice", "v", Duration::from_secs(600)).unwrap();
        let cost = per_call(2000, || {
            keys.verify(&token, "v").unwrap();
        });
        println!("token verification ({alg}): {cost:.0} µs");
    }
}
