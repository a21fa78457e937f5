use opaque_ke::{CipherSuite, Identifiers, Ristretto255, ServerLoginParameters, TripleDh};

/// Haven's OPAQUE cipher suite: OPRF over ristretto255, TripleDH over ristretto255
/// with SHA-512, and Argon2id as the key stretching function.
///
/// The Argon2id parameters are not part of the type: every call passes the
/// [`crate::KsfParams`] of the record's KSF version.
pub struct Suite;

impl CipherSuite for Suite {
    type OprfCs = Ristretto255;
    type KeyExchange = TripleDh<Ristretto255, sha2::Sha512>;
    type Ksf = argon2::Argon2<'static>;
}

/// Length of the vault's AKE public key (a compressed ristretto255 point).
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a serialized `ServerSetup` (OPRF seed, AKE key pair, fake key pair).
pub const SERVER_SETUP_LEN: usize = 128;

/// Serialized `RegistrationRequest`: the blinded element.
pub const REGISTRATION_REQUEST_LEN: usize = 32;
/// Serialized `RegistrationResponse`: evaluated element and server public key.
pub const REGISTRATION_RESPONSE_LEN: usize = 64;
/// Serialized `RegistrationUpload`: client public key, masking key and envelope.
pub const REGISTRATION_UPLOAD_LEN: usize = 192;
/// Serialized `CredentialRequest` (KE1): blinded element, client nonce and key share.
pub const CREDENTIAL_REQUEST_LEN: usize = 96;
/// Serialized `CredentialResponse` (KE2).
pub const CREDENTIAL_RESPONSE_LEN: usize = 320;
/// Serialized `CredentialFinalization` (KE3): the client MAC.
pub const CREDENTIAL_FINALIZATION_LEN: usize = 64;

/// OPAQUE login context string: binds the key exchange to this protocol.
pub const LOGIN_CONTEXT: &[u8] = b"haven/v1/vault-login";

/// Returns the OPAQUE identifiers: the client is the credential identifier
/// (`tenant || 0x00 || account`) and the server is the vault id. Registration and
/// every login must use the same pair.
pub fn opaque_identifiers<'a>(
    credential_identifier: &'a [u8],
    vault_id: &'a str,
) -> Identifiers<'a> {
    Identifiers {
        client: Some(credential_identifier),
        server: Some(vault_id.as_bytes()),
    }
}

/// Returns the server's login parameters: [`LOGIN_CONTEXT`] and [`opaque_identifiers`].
pub fn login_parameters<'a>(
    credential_identifier: &'a [u8],
    vault_id: &'a str,
) -> ServerLoginParameters<'a, 'a> {
    ServerLoginParameters {
        context: Some(LOGIN_CONTEXT),
        identifiers: opaque_identifiers(credential_identifier, vault_id),
    }
}
