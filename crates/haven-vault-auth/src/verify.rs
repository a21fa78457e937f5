use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};

use crate::tenants::TenantKey;
use crate::{
    check_account, AuthError, Principal, TenantKeys, LEEWAY, MAX_LIFETIME, MAX_TENANT_LEN,
    MAX_TOKEN_LEN,
};

type Claims = Map<String, Value>;

impl TenantKeys {
    /// Verifies a bearer token for the vault `vault_id` and returns who it names.
    ///
    /// The unverified `iss` selects the tenant, whose configured algorithm must
    /// equal the header's `alg`; then the signature, `aud` = `vault_id`, `exp` (in
    /// the future), `nbf` if present, `iat` (required), the lifetime `exp - iat`
    /// (at most [`MAX_LIFETIME`]) and `sub` are checked, with [`LEEWAY`] for clock
    /// skew.
    pub fn verify(&self, token: &str, vault_id: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed(format!(
                "it is {} bytes long, the maximum is {MAX_TOKEN_LEN}",
                token.len()
            )));
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return Err(malformed(format!(
                "it has {} dot-separated parts, a signed JWT has 3",
                parts.len()
            )));
        };

        let header_alg = read_header_alg(header)?;
        if header_alg.eq_ignore_ascii_case("none") || signature.is_empty() {
            return Err(AuthError::Unsigned);
        }

        let tenant = read_unverified_issuer(payload)?;
        let Some(key) = self.tenants.get(&tenant) else {
            return Err(AuthError::UnknownTenant {
                tenant: bounded(&tenant),
            });
        };
        if header_alg != key.alg.as_str() {
            return Err(AuthError::AlgorithmMismatch {
                tenant,
                expected: key.alg.as_str(),
                found: bounded(&header_alg),
            });
        }

        let claims = verify_signature_and_times(token, &tenant, key, vault_id)?;
        check_times(&claims)?;
        let account = read_account(&claims)?;
        Ok(Principal { tenant, account })
    }
}

fn malformed(reason: String) -> AuthError {
    AuthError::Malformed { reason }
}

/// Shortens a value taken from an unverified token before it goes into an error.
fn bounded(value: &str) -> String {
    value.chars().take(MAX_TENANT_LEN).collect()
}

fn decode_json_part(part: &str, name: &str) -> Result<Claims, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("the {name} is not base64url without padding")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(format!("the {name} is not a JSON object"))),
    }
}

fn read_header_alg(header: &str) -> Result<String, AuthError> {
    let header = decode_json_part(header, "header")?;
    match header.get("alg") {
        Some(Value::String(alg)) => Ok(alg.clone()),
        Some(_) => Err(malformed("the header's \"alg\" is not a string".into())),
        None => Err(malformed("the header has no \"alg\"".into())),
    }
}

fn read_unverified_issuer(payload: &str) -> Result<String, AuthError> {
    let claims = decode_json_part(payload, "payload")?;
    match claims.get("iss") {
        Some(Value::String(iss)) => Ok(iss.clone()),
        Some(_) => Err(AuthError::InvalidClaim {
            claim: "iss".into(),
            reason: "it is not a string".into(),
        }),
        None => Err(AuthError::MissingClaim {
            claim: "iss".into(),
        }),
    }
}

fn verify_signature_and_times(
    token: &str,
    tenant: &str,
    key: &TenantKey,
    vault_id: &str,
) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(key.alg.jwt_algorithm());
    validation.leeway = LEEWAY.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_audience(&[vault_id]);
    validation.set_issuer(&[tenant]);
    // jsonwebtoken reports a claim of the wrong type as missing, so `exp` and `sub`
    // are checked for presence and type afterwards, with precise errors. Its `exp`
    // check still runs whenever `exp` is a number.
    validation.set_required_spec_claims(&["iss", "aud"]);
    jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|err| map_jwt_error(err.into_kind(), tenant, vault_id))
}

fn map_jwt_error(kind: ErrorKind, tenant: &str, vault_id: &str) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature {
            tenant: tenant.to_string(),
        },
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience {
            expected: vault_id.to_string(),
        },
        ErrorKind::InvalidIssuer => AuthError::UnknownTenant {
            tenant: tenant.to_string(),
        },
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim { claim },
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim {
            claim,
            reason: "it has the wrong type".into(),
        },
        ErrorKind::InvalidAlgorithm => AuthError::AlgorithmMismatch {
            tenant: tenant.to_string(),
            expected: "the tenant's algorithm",
            found: "another algorithm".into(),
        },
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            malformed("it is not a well-formed JWT".into())
        }
        ErrorKind::Json(_) => malformed(
            "its header or payload is not valid JSON, or a registered claim \
             (iss, sub, aud, exp, nbf) has the wrong type"
                .into(),
        ),
        ErrorKind::InvalidEddsaKey => AuthError::BadSignature {
            tenant: tenant.to_string(),
        },
        other => malformed(format!("verification failed: {other:?}")),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn integer_claim(claims: &Claims, claim: &str) -> Result<u64, AuthError> {
    match claims.get(claim) {
        None => Err(AuthError::MissingClaim {
            claim: claim.into(),
        }),
        Some(value) => value.as_u64().ok_or_else(|| AuthError::InvalidClaim {
            claim: claim.into(),
            reason: "it is not a non-negative integer of seconds since the Unix epoch".into(),
        }),
    }
}

fn check_times(claims: &Claims) -> Result<(), AuthError> {
    let exp = integer_claim(claims, "exp")?;
    let iat = integer_claim(claims, "iat")?;
    if iat > now_secs() + LEEWAY.as_secs() {
        return Err(AuthError::NotYetValid);
    }
    let Some(lifetime) = exp.checked_sub(iat) else {
        return Err(AuthError::InvalidClaim {
            claim: "exp".into(),
            reason: "it is earlier than \"iat\"".into(),
        });
    };
    if lifetime > MAX_LIFETIME.as_secs() {
        return Err(AuthError::LifetimeTooLong {
            seconds: lifetime,
            max: MAX_LIFETIME.as_secs(),
        });
    }
    Ok(())
}

fn read_account(claims: &Claims) -> Result<String, AuthError> {
    let account = match claims.get("sub") {
        Some(Value::String(sub)) => sub,
        Some(_) => {
            return Err(AuthError::InvalidClaim {
                claim: "sub".into(),
                reason: "it is not a string".into(),
            })
        }
        None => {
            return Err(AuthError::MissingClaim {
                claim: "sub".into(),
            })
        }
    };
    check_account(account).map_err(|reason| AuthError::InvalidClaim {
        claim: "sub".into(),
        reason,
    })?;
    Ok(account.clone())
}
