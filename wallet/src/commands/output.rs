//! Printing results: text for people, or one JSON object with stable keys for `--json`;
//! secrets written straight from their wiped buffers.

use std::io::Write;

use serde_json::Value;

use crate::error::WalletError;

/// Prints results as text or JSON.
pub(super) struct Out {
    pub(super) json: bool,
}

/// A secret to print: hex digits or lower-case words, so it needs no JSON escaping.
pub(super) struct Secret<'a> {
    /// Its key in `--json` output.
    pub(super) key: &'static str,
    /// What precedes it in text output.
    pub(super) label: &'static str,
    /// The secret.
    pub(super) value: &'a str,
}

impl Out {
    /// Prints `text`, or `value` with `--json`.
    pub(super) fn emit(
        &self,
        text: impl std::fmt::Display,
        value: Value,
    ) -> Result<(), WalletError> {
        Self::write(|w| {
            if self.json {
                writeln!(w, "{value}")
            } else {
                writeln!(w, "{text}")
            }
        })
    }

    /// Like [`Out::emit`], with secrets appended. They are written straight from their wiped
    /// buffers, never copied into a string or a JSON value that would outlive them.
    pub(super) fn emit_secrets(
        &self,
        text: impl std::fmt::Display,
        value: Value,
        secrets: &[Secret],
    ) -> Result<(), WalletError> {
        for s in secrets {
            if !s
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ')
            {
                return Err(WalletError::Internal(format!(
                    "{} has unexpected characters",
                    s.key
                )));
            }
        }
        Self::write(|w| {
            if self.json {
                let open = value.to_string();
                w.write_all(open.trim_end_matches('}').as_bytes())?;
                for s in secrets {
                    write!(w, ",\"{}\":\"{}\"", s.key, s.value)?;
                }
                writeln!(w, "}}")
            } else {
                writeln!(w, "{text}")?;
                for s in secrets {
                    writeln!(w, "{}{}", s.label, s.value)?;
                }
                Ok(())
            }
        })
    }

    /// Writes to stdout; a reader that went away (`| head`) is not a failure.
    fn write(
        f: impl FnOnce(&mut std::io::StdoutLock) -> std::io::Result<()>,
    ) -> Result<(), WalletError> {
        let mut w = std::io::stdout().lock();
        match f(&mut w).and_then(|()| w.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r.map_err(WalletError::Io),
        }
    }
}
