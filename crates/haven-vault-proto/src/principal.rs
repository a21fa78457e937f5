use std::fmt;

/// The owner of a vault record: a tenant (the messaging app's backend, the token's
/// `iss`) and an account within it (the token's `sub`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub tenant: String,
    pub account: String,
}

impl Principal {
    pub fn new(tenant: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            account: account.into(),
        }
    }

    /// Returns the OPAQUE credential identifier `tenant || 0x00 || account` (UTF-8).
    ///
    /// A tenant name never contains a NUL byte (the vault rejects such tokens), so
    /// the encoding is unambiguous.
    pub fn credential_identifier(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.tenant.len() + 1 + self.account.len());
        out.extend_from_slice(self.tenant.as_bytes());
        out.push(0);
        out.extend_from_slice(self.account.as_bytes());
        out
    }
}

/// Shows the tenant only: account ids are personal data and stay out of logs.
impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("tenant", &self.tenant)
            .field("account", &"<redacted>")
            .finish()
    }
}
