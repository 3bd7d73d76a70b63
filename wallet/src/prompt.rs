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
const MAX_SECRET_INPUT: usize = 4096;
/// Longest password file read: a passphrase is one line; a larger file is the wrong file.
const MAX_PASSWORD_FILE: usize = 4096;

/// True when standard input is a terminal: someone is there to answer (prompts themselves go
/// to the terminal or to stderr, so redirecting stdout does not make a session unattended).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Slack past the limit in the buffers secrets are read into: std's standard input keeps an
/// 8 KiB buffer of its own and only bypasses it for reads at least that large, so every read
/// offered this much room goes straight into the wiped buffer.
const READ_SLACK: usize = 8 * 1024;

/// Reads at most `max` bytes of `from` into one buffer that is wiped when dropped and never
/// reallocated (a grown buffer would leave an unwiped copy behind). `Ok(None)` when there is
/// more than `max`.
fn read_secret(mut from: impl Read, max: usize) -> std::io::Result<Option<Zeroizing<String>>> {
    let mut buf = Zeroizing::new(vec![0u8; max + 1 + READ_SLACK]);
    let mut filled = 0;
    loop {
        let n = match from.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        filled += n;
        if filled > max {
            return Ok(None);
        }
    }
    let mut bytes = std::mem::take(&mut *buf);
    bytes.truncate(filled);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(Zeroizing::new(text))),
        Err(e) => {
            // Wipe the refused bytes too.
            let _ = Zeroizing::new(e.into_bytes());
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
        }
    }
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
    let Some(mut text) = read_secret(file, MAX_PASSWORD_FILE).map_err(context)? else {
        return Err(WalletError::Usage(format!(
            "--password-file {} is larger than {MAX_PASSWORD_FILE} bytes; it should hold one line",
            path.display()
        )));
    };
    // The first line, cut in place (no copy).
    let end = text.find(['\n', '\r']).unwrap_or(text.len());
    text.truncate(end);
    Ok(text)
}

/// The passphrase: from `--password-file` (its first line), else the environment variable,
/// else asked at the terminal (twice when `new` is true).
pub fn passphrase(file: Option<&Path>, new: bool) -> Result<Zeroizing<String>, WalletError> {
    let pass = if let Some(path) = file {
        read_password_file(path)?
    } else if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        Zeroizing::new(p)
    } else if interactive() {
        let mut ask = |q: &str| rpassword::prompt_password(q).map(Zeroizing::new);
        if new {
            return new_passphrase(&mut ask, &mut |m| eprintln!("{m}"));
        }
        ask("Passphrase: ")?
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

/// How many times a new passphrase is asked for at a terminal before giving up: a typo in the
/// repeat asks again rather than throwing away what was typed before it (a pasted secret).
pub const NEW_PASSPHRASE_TRIES: usize = 3;

/// A new passphrase, asked for and repeated through `ask`; a mismatch or an empty one is told
/// through `tell` and asked again, up to [`NEW_PASSPHRASE_TRIES`] times.
fn new_passphrase(
    ask: &mut dyn FnMut(&str) -> std::io::Result<Zeroizing<String>>,
    tell: &mut dyn FnMut(&str),
) -> Result<Zeroizing<String>, WalletError> {
    for _ in 0..NEW_PASSPHRASE_TRIES {
        let first = ask("Passphrase: ")?;
        if first.is_empty() {
            tell("The passphrase cannot be empty; try again.");
            continue;
        }
        let again = ask("Repeat passphrase: ")?;
        if *first == *again {
            return Ok(first);
        }
        tell("The passphrases differ; try again.");
    }
    Err(WalletError::Usage(format!(
        "no passphrase after {NEW_PASSPHRASE_TRIES} tries (they differed or were empty)"
    )))
}

/// A secret to import: asked without echo at a terminal, else read from standard input.
pub fn secret_input() -> Result<Zeroizing<String>, WalletError> {
    if interactive() {
        return Ok(Zeroizing::new(rpassword::prompt_password(
            "Secret key (64 hex digits) or recovery phrase: ",
        )?));
    }
    read_secret(std::io::stdin().lock(), MAX_SECRET_INPUT)?.ok_or_else(|| {
        WalletError::Usage(format!(
            "standard input holds more than {MAX_SECRET_INPUT} bytes; expected one secret key or phrase"
        ))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_whole_within_the_limit() {
        let text = read_secret(&b"abc def\n"[..], 16).unwrap().unwrap();
        assert_eq!(text.as_str(), "abc def\n");
        assert_eq!(read_secret(&[b'x'; 16][..], 16).unwrap().unwrap().len(), 16);
        assert!(read_secret(&[b'x'; 17][..], 16).unwrap().is_none());
        assert!(read_secret(&b"\xff\xfe"[..], 16).is_err());
        // A reader that hands out one byte at a time is read to the end.
        let slow = std::io::Read::chain(&b"ab"[..], &b"cd"[..]);
        assert_eq!(read_secret(slow, 16).unwrap().unwrap().as_str(), "abcd");
    }

    /// Answers the prompts in order, recording what was asked and told.
    fn scripted(answers: &[&str]) -> (Result<String, String>, Vec<String>) {
        let mut answers = answers.iter();
        let mut log = Vec::new();
        let mut told = Vec::new();
        let got = new_passphrase(
            &mut |q| {
                log.push(q.to_string());
                answers
                    .next()
                    .map(|a| Zeroizing::new(a.to_string()))
                    .ok_or_else(|| std::io::Error::other("no more input"))
            },
            &mut |m| told.push(m.to_string()),
        );
        log.extend(told);
        (got.map(|p| p.to_string()).map_err(|e| e.to_string()), log)
    }

    #[test]
    fn a_new_passphrase_is_asked_again_on_a_typo() {
        let (got, log) = scripted(&["right", "rigth", "right", "right"]);
        assert_eq!(got, Ok("right".into()));
        assert_eq!(log.len(), 5, "{log:?}");
        assert!(log.iter().any(|l| l.contains("differ")), "{log:?}");
        // An empty one is refused and asked again without a repeat.
        let (got, log) = scripted(&["", "pw", "pw"]);
        assert_eq!(got, Ok("pw".into()));
        assert!(log.iter().any(|l| l.contains("empty")), "{log:?}");
        // Three misses give up with a usage error; the input ending is an error too.
        let (got, _) = scripted(&["a", "b", "a", "c", "", "x"]);
        let err = got.unwrap_err();
        assert!(err.contains("3 tries"), "{err}");
        assert!(scripted(&["a"]).0.is_err());
    }
}
