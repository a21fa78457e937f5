//! Reading the tenant and account a bearer token names, without verifying it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use haven_vault_proto::Principal;
use serde::Deserialize;

use crate::ClientError;

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
}

/// Reads the tenant (`iss`) and account (`sub`) from a JWT's payload without checking
/// its signature; only the vault can do that. Callers use it to catch a token for
/// the wrong account before it spends a guess. Errors never include the token.
pub fn token_principal(token: &str) -> Result<Principal, ClientError> {
    let invalid = |why: &str| {
        ClientError::Config(format!(
            "the vault token is not a valid JWT ({why}); \
             get a new one from the messaging app's backend or `haven vault token`"
        ))
    };
    let mut parts = token.trim().split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => payload,
        _ => return Err(invalid("expected three dot-separated parts")),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| invalid("the payload is not base64url"))?;
    let claims: Claims =
        serde_json::from_slice(&bytes).map_err(|_| invalid("the payload lacks iss or sub"))?;
    Ok(Principal::new(claims.iss, claims.sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with(payload: &str) -> String {
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_iss_and_sub() {
        let principal = token_principal(&token_with(r#"{"iss":"acme","sub":"alice"}"#)).unwrap();
        assert_eq!(principal.tenant, "acme");
        assert_eq!(principal.account, "alice");
    }

    #[test]
    fn rejects_token_without_sub() {
        let error = token_principal(&token_with(r#"{"iss":"acme"}"#)).unwrap_err();
        assert!(error.to_string().contains("iss or sub"), "{error}");
    }

    #[test]
    fn rejects_two_part_token_without_echoing_it() {
        let error = token_principal("secretpart.other").unwrap_err();
        assert!(!error.to_string().contains("secretpart"), "{error}");
    }
}
