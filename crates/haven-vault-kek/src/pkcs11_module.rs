//! One initialised PKCS#11 context per module path, shared by every KEK in the
//! process.
//!
//! C_Initialize may run once per process until C_Finalize; a second call returns
//! CKR_CRYPTOKI_ALREADY_INITIALIZED. The registry counts the open KEKs per module and
//! finalizes the module when the last one closes, so a later open initialises it
//! again (SoftHSM2 then rereads SOFTHSM2_CONF).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};

use crate::KekError;

struct Entry {
    context: Pkcs11,
    users: usize,
    /// False when another part of the process initialised the module first; the
    /// registry then leaves finalizing to that owner.
    owned: bool,
}

static MODULES: Mutex<Option<HashMap<PathBuf, Entry>>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<HashMap<PathBuf, Entry>>> {
    MODULES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A counted reference to an initialised module. Dropping the last one finalizes
/// the module. Sessions must be closed before it is dropped.
pub(crate) struct ModuleHandle {
    path: PathBuf,
    context: Pkcs11,
}

impl ModuleHandle {
    /// Loads and initialises `module`, or joins the context already open for it.
    pub(crate) fn acquire(module: &Path) -> Result<Self, KekError> {
        if !module.exists() {
            return Err(KekError::ModuleNotFound {
                module: module.to_path_buf(),
            });
        }
        let mut guard = registry();
        let modules = guard.get_or_insert_with(HashMap::new);
        if let Some(entry) = modules.get_mut(module) {
            entry.users += 1;
            return Ok(Self {
                path: module.to_path_buf(),
                context: entry.context.clone(),
            });
        }
        let context = Pkcs11::new(module).map_err(|err| KekError::ModuleLoad {
            module: module.to_path_buf(),
            reason: err.to_string(),
        })?;
        let owned = match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) => true,
            Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
            Err(err) => {
                return Err(KekError::ModuleLoad {
                    module: module.to_path_buf(),
                    reason: format!("C_Initialize failed: {err}"),
                })
            }
        };
        tracing::debug!(module = %module.display(), "initialised PKCS#11 module");
        modules.insert(
            module.to_path_buf(),
            Entry {
                context: context.clone(),
                users: 1,
                owned,
            },
        );
        Ok(Self {
            path: module.to_path_buf(),
            context,
        })
    }

    pub(crate) fn context(&self) -> &Pkcs11 {
        &self.context
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ModuleHandle {
    fn drop(&mut self) {
        let mut guard = registry();
        let Some(modules) = guard.as_mut() else {
            return;
        };
        let Some(entry) = modules.get_mut(&self.path) else {
            return;
        };
        entry.users -= 1;
        if entry.users > 0 {
            return;
        }
        let entry = modules
            .remove(&self.path)
            .expect("the entry was found above under the same lock");
        if entry.owned {
            if let Err(err) = entry.context.finalize() {
                tracing::warn!(module = %self.path.display(), error = %err, "C_Finalize failed");
            }
        }
    }
}
