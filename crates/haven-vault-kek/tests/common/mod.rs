//! A SoftHSM2 token in a temporary directory, for tests.
//!
//! SoftHSM2 reads its configuration from the SOFTHSM2_CONF environment variable
//! when the module is initialised, and that variable is process-wide. Each test
//! therefore holds a process-wide lock for as long as its token is in use, sets
//! SOFTHSM2_CONF to its own configuration, and drops its KEKs (which finalizes the
//! module) before releasing the lock, so the next test initialises the module
//! against its own token directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use zeroize::Zeroizing;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const INSTALL_HINT: &str = "SoftHSM2 is required for the PKCS#11 tests: run `apt-get install softhsm2` (it provides /usr/lib/softhsm/libsofthsm2.so and softhsm2-util)";

static SOFTHSM_LOCK: Mutex<()> = Mutex::new(());

pub struct SoftHsm {
    pub token_label: String,
    pub pin: Zeroizing<String>,
    dir: tempfile::TempDir,
    _guard: MutexGuard<'static, ()>,
}

impl SoftHsm {
    /// Creates a configuration and a token directory, points SOFTHSM2_CONF at them
    /// and initialises one token labelled `token_label`.
    pub fn with_token(token_label: &str) -> Self {
        assert!(Path::new(MODULE).exists(), "{INSTALL_HINT}");
        let guard = SOFTHSM_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // SAFETY of the process-wide variable: every reader (SoftHSM2's
        // C_Initialize and softhsm2-util) runs while SOFTHSM_LOCK is held.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let hsm = Self {
            token_label: token_label.to_string(),
            pin: Zeroizing::new("4711-user".to_string()),
            dir,
            _guard: guard,
        };
        hsm.init_token(token_label, "4711-user");
        hsm
    }

    /// Initialises another token in the next free slot.
    pub fn init_token(&self, label: &str, pin: &str) {
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", self.conf())
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", pin, "--so-pin", "so-pin-0815"])
            .output()
            .unwrap_or_else(|err| panic!("failed to run softhsm2-util ({err}); {INSTALL_HINT}"));
        assert!(
            output.status.success(),
            "softhsm2-util --init-token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    pub fn module(&self) -> PathBuf {
        PathBuf::from(MODULE)
    }
}
