//! An OPAQUE cipher suite that matches the vault's on the wire but memoizes the key
//! stretching function, so the load generator spends one Argon2id evaluation per
//! account instead of one per login.
//!
//! This works because OPAQUE's KSF input is the OPRF output, which is the same for
//! every login with the same password, account and server setup: the blinding
//! factor cancels out before the KSF runs. The server cannot tell the difference;
//! it never runs the KSF.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use haven_vault_proto::{KsfParams, Suite};
use opaque_ke::errors::InternalError;
use opaque_ke::generic_array::{ArrayLength, GenericArray};
use opaque_ke::ksf::Ksf;
use opaque_ke::CipherSuite;
use zeroize::Zeroizing;

/// [`Suite`] with [`CachedKsf`] in place of plain Argon2id.
pub struct BenchSuite;

impl CipherSuite for BenchSuite {
    type OprfCs = <Suite as CipherSuite>::OprfCs;
    type KeyExchange = <Suite as CipherSuite>::KeyExchange;
    type Ksf = CachedKsf;
}

/// Argon2id at the parameter version set by [`set_ksf_version`], with results
/// memoized by input.
#[derive(Default)]
pub struct CachedKsf;

static KSF_VERSION: AtomicU32 = AtomicU32::new(1);

/// Sets the KSF version that `GET /v1/info` returned.
pub fn set_ksf_version(version: u32) {
    KSF_VERSION.store(version, Ordering::Relaxed);
}

/// Returns the KSF version in use.
pub fn ksf_version() -> u32 {
    KSF_VERSION.load(Ordering::Relaxed)
}

type Cache = Mutex<HashMap<Vec<u8>, Zeroizing<Vec<u8>>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl Ksf for CachedKsf {
    fn hash<L: ArrayLength<u8>>(
        &self,
        input: GenericArray<u8, L>,
    ) -> Result<GenericArray<u8, L>, InternalError> {
        if let Some(hit) = cache()
            .lock()
            .expect("KSF cache lock")
            .get(input.as_slice())
        {
            return Ok(GenericArray::clone_from_slice(hit));
        }
        let params = KsfParams::from_version(ksf_version()).map_err(|_| InternalError::KsfError)?;
        let output = params.argon2().hash(input.clone())?;
        cache()
            .lock()
            .expect("KSF cache lock")
            .insert(input.to_vec(), Zeroizing::new(output.to_vec()));
        Ok(output)
    }
}
