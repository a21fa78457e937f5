//! Reading passwords: from a file named on the command line or in an environment
//! variable (for scripts), or from the terminal without echo.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use zeroize::Zeroizing;

/// Shortest password accepted for a new enrollment. Eight characters is the floor
/// NIST SP 800-63B sets for user-chosen secrets; the vault's guess limit, not the
/// length, is what stops online guessing.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Reads an existing password from `file`, or prompts on the terminal.
pub fn read_password(prompt: &str, file: Option<&Path>) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = file {
        return read_password_file(path);
    }
    require_terminal()?;
    let password = Zeroizing::new(
        rpassword::prompt_password(prompt)
            .context("failed to read the password from the terminal")?,
    );
    if password.is_empty() {
        bail!("the password is empty; type the vault password, or press Ctrl-C to stop");
    }
    Ok(password)
}

/// Reads a new password from `file`, or prompts twice on the terminal and checks that
/// both entries match.
pub fn read_new_password(prompt: &str, file: Option<&Path>) -> anyhow::Result<Zeroizing<String>> {
    let password = match file {
        Some(path) => read_password_file(path)?,
        None => {
            require_terminal()?;
            let first = Zeroizing::new(
                rpassword::prompt_password(prompt)
                    .context("failed to read the password from the terminal")?,
            );
            let second = Zeroizing::new(
                rpassword::prompt_password("Repeat the password: ")
                    .context("failed to read the password from the terminal")?,
            );
            if first != second {
                bail!("the two passwords differ; run the command again and type the same password twice");
            }
            first
        }
    };
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        bail!("the password has {chars} characters; choose one with at least {MIN_PASSWORD_CHARS}");
    }
    Ok(password)
}

/// Reads a password file: its whole content, without one trailing newline.
pub fn read_password_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?,
    );
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if trimmed.is_empty() {
        bail!(
            "the password file {} is empty; write the password into it",
            path.display()
        );
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}

/// Returns whether a person can answer a prompt on this process's terminal.
pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn require_terminal() -> anyhow::Result<()> {
    if !is_interactive() {
        bail!(
            "no terminal to ask for the password; set HAVEN_PASSWORD_FILE \
             (or --password-file) to a file that holds it"
        );
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; anything but "yes" is no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} Type 'yes' to continue: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("failed to read the answer from the terminal")?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_drops_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "correct horse \n\n").unwrap();
        assert_eq!(
            read_password_file(&path).unwrap().as_str(),
            "correct horse \n"
        );
    }

    #[test]
    fn empty_password_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "\n").unwrap();
        let error = read_password_file(&path).unwrap_err().to_string();
        assert!(error.contains("is empty"), "{error}");
    }

    #[test]
    fn short_new_password_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "short").unwrap();
        let error = read_new_password("p", Some(&path)).unwrap_err().to_string();
        assert!(error.contains("at least 8"), "{error}");
    }
}
