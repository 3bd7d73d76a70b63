//! Talking to the person at the terminal: passphrases without echo (or from a file or an
//! environment variable for scripts), secrets to import, and yes/no confirmations.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::WalletError;

/// The environment variable scripts may set to the passphrase. The name says what it is:
/// other processes of the same user can often read a process's environment.
pub const PASSPHRASE_ENV: &str = "FERRITE_WALLET_PASSPHRASE_UNSAFE";
/// Longest secret or phrase read from standard input: 24 words of at most 8 letters with
/// generous spacing fit many times over.
const MAX_SECRET_INPUT: u64 = 4096;
/// Longest password file read: a passphrase is one line; a larger file is the wrong file.
const MAX_PASSWORD_FILE: u64 = 4096;

/// True when standard input is a terminal: someone is there to answer (prompts themselves go
/// to the terminal or to stderr, so redirecting stdout does not make a session unattended).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// The first line of `path`, read at most [`MAX_PASSWORD_FILE`] bytes.
fn read_password_file(path: &Path) -> Result<Zeroizing<String>, WalletError> {
    let context = |e: std::io::Error| {
        WalletError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot read --password-file {}: {e}", path.display()),
        ))
    };
    let file = std::fs::File::open(path).map_err(context)?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_PASSWORD_FILE + 1)
        .read_to_string(&mut text)
        .map_err(context)?;
    if text.len() as u64 > MAX_PASSWORD_FILE {
        return Err(WalletError::Usage(format!(
            "--password-file {} is larger than {MAX_PASSWORD_FILE} bytes; it should hold one line",
            path.display()
        )));
    }
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or("").to_string(),
    ))
}

/// The passphrase: from `--password-file` (its first line), else the environment variable,
/// else asked at the terminal (twice when `new` is true).
pub fn passphrase(file: Option<&Path>, new: bool) -> Result<Zeroizing<String>, WalletError> {
    let pass = if let Some(path) = file {
        read_password_file(path)?
    } else if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        Zeroizing::new(p)
    } else if interactive() {
        let first = Zeroizing::new(rpassword::prompt_password("Passphrase: ")?);
        if new {
            let again = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
            if *first != *again {
                return Err(WalletError::Usage("the passphrases differ".into()));
            }
        }
        first
    } else {
        return Err(WalletError::Usage(format!(
            "no passphrase: no terminal to ask on; use --password-file FILE (or {PASSPHRASE_ENV})"
        )));
    };
    if new && pass.is_empty() {
        return Err(WalletError::Usage("the passphrase cannot be empty".into()));
    }
    Ok(pass)
}

/// A secret to import: asked without echo at a terminal, else read from standard input.
pub fn secret_input() -> Result<Zeroizing<String>, WalletError> {
    if interactive() {
        return Ok(Zeroizing::new(rpassword::prompt_password(
            "Secret key (64 hex digits) or recovery phrase: ",
        )?));
    }
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .take(MAX_SECRET_INPUT + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_INPUT {
        return Err(WalletError::Usage(format!(
            "standard input holds more than {MAX_SECRET_INPUT} bytes; expected one secret key or phrase"
        )));
    }
    Ok(text)
}

/// Asks `question` and returns true on yes. Refuses without a terminal.
pub fn confirm(question: &str) -> Result<bool, WalletError> {
    if !interactive() {
        return Err(WalletError::Usage(
            "refusing to send without confirmation: no terminal to ask on; pass --yes".into(),
        ));
    }
    let mut err = std::io::stderr();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
