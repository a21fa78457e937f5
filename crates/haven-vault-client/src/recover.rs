//! Recovery: OPAQUE login, then release and unwrapping of the backup key.

use haven_crypto::BackupKey;
use haven_vault_proto::client::{recover_finish, recover_start, wrong_password_request};
use haven_vault_proto::wire::{codes, RecoverFinishResponse, RecoverStartResponse};
use haven_vault_proto::ProtoError;
use reqwest::StatusCode;

use crate::transport::ApiError;
use crate::{ClientError, VaultClient};

impl VaultClient {
    /// Recovers the backup key with `password`. Every call spends one guess unless
    /// the password is right, in which case the vault resets the counter.
    ///
    /// Errors: [`ClientError::WrongPassword`] with the guesses left,
    /// [`ClientError::RecordGone`] when the vault reports that the record is gone,
    /// and [`ClientError::FingerprintMismatch`] when the vault's key is not the
    /// pinned one. For an account that was never enrolled the vault answers like a
    /// wrong password, by design, so that replies do not reveal which accounts exist.
    pub async fn recover(&self, password: &[u8]) -> Result<BackupKey, ClientError> {
        if self.pinned.is_none() {
            return Err(ClientError::Config(
                "recovery needs the vault's pinned fingerprint; it is stored in the \
                 repository's vault key slot"
                    .into(),
            ));
        }
        let vault_id = self.vault_id().await?;
        match self.recover_once(password, &vault_id).await? {
            Attempt::Released(key) => Ok(key),
            Attempt::SessionGone => {
                // The password verified, but the vault no longer had the session:
                // a finish sent again after a lost reply, whose first copy reset
                // the counter. One new login gets the key.
                tracing::warn!("the vault had already finished this login; logging in again");
                match self.recover_once(password, &vault_id).await? {
                    Attempt::Released(key) => Ok(key),
                    Attempt::SessionGone => Err(ClientError::Protocol {
                        url: self.transport.current_url(),
                        detail: "the vault rejected two logins that the client verified".into(),
                    }),
                }
            }
        }
    }

    /// Runs one login. A wrong password is an error; a verified login whose finish
    /// the vault rejects is [`Attempt::SessionGone`].
    async fn recover_once(&self, password: &[u8], vault_id: &str) -> Result<Attempt, ClientError> {
        let (state, request) = recover_start(password)?;
        let response: RecoverStartResponse = self
            .transport
            .post("v1/recover/start", &request)
            .await?
            .map_err(map_recover_error)?;
        let progress =
            match recover_finish(state, password, &response, vault_id, self.pinned.as_deref()) {
                Ok(progress) => progress,
                Err(ProtoError::WrongPassword) => {
                    return Err(self.report_wrong_password(&response).await);
                }
                Err(error) => return Err(self.map_proto_error(error)),
            };
        let released: RecoverFinishResponse = match self
            .transport
            .post("v1/recover/finish", &progress.request)
            .await?
        {
            Ok(released) => released,
            Err(error)
                if error.status == StatusCode::FORBIDDEN
                    && error.body.error == codes::WRONG_PASSWORD =>
            {
                return Ok(Attempt::SessionGone);
            }
            Err(error) => return Err(map_recover_error(error)),
        };
        let key = progress.open(&released)?;
        tracing::info!("vault released the backup key");
        Ok(Attempt::Released(key))
    }

    /// Tells the vault that the client found the password wrong (a null
    /// finalization), and turns its reply into the error for the caller.
    async fn report_wrong_password(&self, response: &RecoverStartResponse) -> ClientError {
        let request = wrong_password_request(response);
        match self
            .transport
            .post::<_, serde_json::Value>("v1/recover/finish", &request)
            .await
        {
            Ok(Err(error)) => map_recover_error(error),
            Ok(Ok(_)) => ClientError::Protocol {
                url: self.transport.current_url(),
                detail: "the vault accepted a login that the client found wrong".into(),
            },
            Err(error) => error,
        }
    }
}

/// The result of one login whose password the client verified.
enum Attempt {
    Released(BackupKey),
    /// The vault rejected the finish because the session was no longer open.
    SessionGone,
}

/// Maps the vault's error replies from the recovery endpoints.
fn map_recover_error(error: ApiError) -> ClientError {
    match (error.status, error.body.error.as_str()) {
        (StatusCode::FORBIDDEN, codes::WRONG_PASSWORD) => match error.body.guesses_remaining {
            Some(0) => ClientError::RecordGone {
                reason: "that was the last allowed guess, so the vault erased the record".into(),
            },
            Some(guesses_remaining) => ClientError::WrongPassword { guesses_remaining },
            None => ClientError::Protocol {
                url: error.url,
                detail: "wrong-password reply without guesses_remaining".into(),
            },
        },
        (StatusCode::NOT_FOUND, _) | (_, codes::NOT_FOUND) => ClientError::RecordGone {
            reason: error.body.message,
        },
        _ => error.into(),
    }
}
