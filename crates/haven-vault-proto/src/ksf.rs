use argon2::{Algorithm, Argon2, Params, Version};

use crate::ProtoError;

/// Argon2id parameters of the OPAQUE key stretching function, identified by a version
/// number that the vault stores in each record.
///
/// opaque-ke stores the parameters nowhere: a login with other parameters than the
/// registration fails like a wrong password. Hence the version travels with the
/// record, and a new parameter set gets a new version number, never a change to an
/// existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KsfParams {
    /// Version number sent on the wire and stored in the record.
    pub version: u32,
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (argon2 0.5 computes the lanes on one thread).
    pub parallelism: u32,
}

/// Version 1, the default: Argon2id (v0x13), 64 MiB, 3 passes, 1 lane, salt of 16
/// zero bytes (fixed by opaque-ke), 64-byte output.
pub const KSF_V1: KsfParams = KsfParams {
    version: 1,
    memory_kib: 65536,
    iterations: 3,
    parallelism: 1,
};

/// Version 0: Argon2id with 64 KiB and 1 pass, for tests only. It gives almost no
/// protection against an offline search, so a vault accepts it only when started
/// with `--allow-insecure-test-ksf`.
pub const KSF_TEST_INSECURE: KsfParams = KsfParams {
    version: 0,
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

const KNOWN: [KsfParams; 2] = [KSF_TEST_INSECURE, KSF_V1];

impl KsfParams {
    /// Looks up a parameter set by version.
    pub fn from_version(version: u32) -> Result<Self, ProtoError> {
        KNOWN
            .iter()
            .copied()
            .find(|params| params.version == version)
            .ok_or_else(|| ProtoError::UnknownKsfVersion {
                version,
                known: KNOWN
                    .iter()
                    .map(|params| params.version.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Returns the Argon2id instance that opaque-ke calls as its KSF.
    pub fn argon2(&self) -> Argon2<'static> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .expect("the built-in KSF parameter sets are valid Argon2 parameters");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }
}
