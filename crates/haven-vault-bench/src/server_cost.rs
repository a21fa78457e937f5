//! `haven-vault-bench server-cost`: times the server-side cryptography of one
//! recovery on one thread. The steps are an OPAQUE login start and finish, a bearer
//! token check, and a record open and seal. Their sum bounds what one core of a vault
//! node can serve, measured without a client competing for the same cores.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use haven_crypto::{BackupKey, SecretKey};
use haven_vault_auth::{generate_tenant_key, mint, TenantAlg, TenantKeys};
use haven_vault_proto::client::{enroll_finish, enroll_start, recover_finish, recover_start};
use haven_vault_proto::wire::{EnrollStartResponse, RecoverStartResponse};
use haven_vault_proto::{login_parameters, Principal, Suite, KSF_TEST_INSECURE};
use opaque_ke::{
    CredentialFinalization, CredentialRequest, RegistrationRequest, RegistrationUpload,
    ServerLogin, ServerRegistration, ServerSetup,
};
use rand_core::OsRng;

use crate::{ms, stats};

const VAULT_ID: &str = "cost-vault";
const PASSWORD: &[u8] = b"correct horse battery staple";

/// Prints the median time of each step over `rounds` runs, and the recoveries per
/// second per core that the sum allows.
pub fn run(rounds: u32) -> anyhow::Result<()> {
    let rounds = rounds.max(1);
    let setup = ServerSetup::<Suite>::new(&mut OsRng);
    let principal = Principal::new("cost", "alice");
    let credential_identifier = principal.credential_identifier();
    let password_file = register(&setup, &principal)?;
    let (ke1, finalization) = login_messages(&setup, &principal, &password_file)?;

    let start = time(rounds, || {
        let request = CredentialRequest::<Suite>::deserialize(&ke1).expect("valid KE1");
        let file = ServerRegistration::<Suite>::deserialize(&password_file).expect("valid file");
        ServerLogin::start(
            &mut OsRng,
            &setup,
            Some(file),
            request,
            &credential_identifier,
            login_parameters(&credential_identifier, VAULT_ID),
        )
        .expect("login start")
        .state
        .serialize()
    });
    let state = ServerLogin::start(
        &mut OsRng,
        &setup,
        Some(ServerRegistration::<Suite>::deserialize(&password_file)?),
        CredentialRequest::<Suite>::deserialize(&ke1)?,
        &credential_identifier,
        login_parameters(&credential_identifier, VAULT_ID),
    )
    .map_err(|e| anyhow!("login start failed: {e}"))?
    .state
    .serialize();
    let finish = time(rounds, || {
        let login = ServerLogin::<Suite>::deserialize(&state).expect("valid state");
        let message = CredentialFinalization::<Suite>::deserialize(&finalization).expect("KE3");
        login
            .finish(message, login_parameters(&credential_identifier, VAULT_ID))
            .is_ok()
    });
    let token = token_check(rounds)?;
    let record = record_seal(rounds, &credential_identifier);

    let steps = [
        ("OPAQUE login start (KE1 -> KE2)", start),
        ("OPAQUE login finish (KE3)", finish),
        ("EdDSA bearer token check", token),
        ("record open + seal (400 bytes)", record),
    ];
    let mut total = Duration::ZERO;
    for (name, median) in &steps {
        println!("{name:<34} median {:>8.1} us", median.as_secs_f64() * 1e6);
        total += *median;
    }
    println!(
        "sum per recovery: {:.3} ms, at most {:.0} recoveries/s per core from this work \
         alone ({} rounds each; a token verified at start is cached for finish)",
        ms(total),
        1.0 / total.as_secs_f64(),
        rounds
    );
    Ok(())
}

/// Returns the median time of `rounds` calls of `work`.
fn time<T>(rounds: u32, mut work: impl FnMut() -> T) -> Duration {
    let mut samples = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        let started = Instant::now();
        std::hint::black_box(work());
        samples.push(started.elapsed());
    }
    samples.sort();
    stats::percentile(&samples, 0.5)
}

/// Enrolls `principal` with the fast test KSF and returns the password file.
fn register(setup: &ServerSetup<Suite>, principal: &Principal) -> anyhow::Result<Vec<u8>> {
    let identifier = principal.credential_identifier();
    let (state, request) = enroll_start(PASSWORD)?;
    let request =
        RegistrationRequest::<Suite>::deserialize(request.registration_request.as_slice())?;
    let start = ServerRegistration::<Suite>::start(setup, request, &identifier)
        .map_err(|e| anyhow!("registration start failed: {e}"))?;
    let response = EnrollStartResponse {
        registration_response: start.message.serialize().to_vec().into(),
        tenant: principal.tenant.clone(),
        account: principal.account.clone(),
    };
    let upload = enroll_finish(
        state,
        PASSWORD,
        &response,
        VAULT_ID,
        KSF_TEST_INSECURE,
        &BackupKey::generate(),
        None,
        None,
    )?;
    let upload =
        RegistrationUpload::<Suite>::deserialize(upload.request.registration_upload.as_slice())?;
    Ok(ServerRegistration::finish(upload).serialize().to_vec())
}

/// Runs one login to get a KE1 and the matching KE3 for the timing loops.
fn login_messages(
    setup: &ServerSetup<Suite>,
    principal: &Principal,
    password_file: &[u8],
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let identifier = principal.credential_identifier();
    let (state, request) = recover_start(PASSWORD)?;
    let ke1 = request.credential_request.as_slice().to_vec();
    let start = ServerLogin::start(
        &mut OsRng,
        setup,
        Some(ServerRegistration::<Suite>::deserialize(password_file)?),
        CredentialRequest::<Suite>::deserialize(&ke1)?,
        &identifier,
        login_parameters(&identifier, VAULT_ID),
    )
    .map_err(|e| anyhow!("login start failed: {e}"))?;
    let response = RecoverStartResponse {
        credential_response: start.message.serialize().to_vec().into(),
        session: Vec::new().into(),
        ksf_version: KSF_TEST_INSECURE.version,
        guesses_remaining: 10,
        tenant: principal.tenant.clone(),
        account: principal.account.clone(),
    };
    let progress = recover_finish(state, PASSWORD, &response, VAULT_ID, None)
        .context("the test login did not verify")?;
    let ke3 = progress
        .request
        .credential_finalization
        .as_ref()
        .ok_or_else(|| anyhow!("the test login produced no KE3"))?
        .as_slice()
        .to_vec();
    Ok((ke1, ke3))
}

fn token_check(rounds: u32) -> anyhow::Result<Duration> {
    let (key, entry) = generate_tenant_key("cost", TenantAlg::EdDsa)?;
    let keys = TenantKeys::from_entries(&[entry], std::path::Path::new("."))?;
    let token = mint("cost", &key, "alice", VAULT_ID, Duration::from_secs(600))?;
    Ok(time(rounds, || {
        keys.verify(&token, VAULT_ID).expect("valid token")
    }))
}

fn record_seal(rounds: u32, credential_identifier: &[u8]) -> Duration {
    let key = SecretKey::generate();
    let plain = vec![7u8; 400];
    let sealed = haven_crypto::seal(&key, credential_identifier, &plain);
    time(rounds, || {
        let opened = haven_crypto::open(&key, credential_identifier, &sealed).expect("opens");
        haven_crypto::seal(&key, credential_identifier, &opened)
    })
}
