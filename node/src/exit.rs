//! The node's exit codes: one per kind of failure, so that a script or a service manager can
//! tell a bad flag from a port in use from a damaged store. docs/operating.md has the table.

use std::error::Error;

use crate::chain::ChainError;
use crate::chainfile::ChainFileError;
use crate::config::ConfigError;
use crate::export::ExportError;
use crate::p2p::join::JoinError;
use crate::store::{GenesisFileError, StoreError};

/// Success.
pub const OK: i32 = 0;
/// A failure of no kind below (an I/O error while running, a bug).
pub const OTHER: i32 = 1;
/// The command line does not parse: an unknown flag, a value of the wrong syntax.
pub const USAGE: i32 = 2;
/// The configuration is unusable: the config file, a value out of range, options that need
/// each other, a reward address that does not parse, a descriptor limit too low for the store.
pub const CONFIG: i32 = 3;
/// The genesis is unusable: the file cannot be read or is invalid, or the data dir belongs
/// to another chain.
pub const GENESIS: i32 = 4;
/// The data dir cannot be used: it cannot be created or written, another process holds it,
/// or another version wrote it.
pub const DATA_DIR: i32 = 5;
/// The store is damaged: a record is missing or does not decode (`check` found a fault).
pub const CORRUPT: i32 = 6;
/// An address to listen on (P2P or HTTP) cannot be bound.
pub const LISTEN: i32 = 7;
/// A chain file (`import`, `export`) cannot be read, written or parsed.
pub const CHAIN_FILE: i32 = 8;
/// `--dev --peer` got no dev genesis from any peer.
pub const JOIN: i32 = 9;
/// A second Ctrl-C (or SIGTERM) ended a clean shutdown at once: 128 + SIGINT.
pub const INTERRUPTED: i32 = 130;
/// Standard output was closed by its reader: 128 + SIGPIPE ([`crate::out`]).
pub const STDOUT_CLOSED: i32 = crate::out::EXIT_STDOUT_CLOSED;

/// An address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for {what} on {addr}: {source}")]
pub struct ListenError {
    /// "peers" or "HTTP".
    pub what: &'static str,
    /// The address asked for.
    pub addr: String,
    /// Why.
    pub source: std::io::Error,
}

/// The exit code of a failure whose error chain (outermost first) is `chain`: the first error
/// of a known kind decides.
pub fn code<'a>(chain: impl Iterator<Item = &'a (dyn Error + 'static)>) -> i32 {
    for e in chain {
        if let Some(c) = kind(e) {
            return c;
        }
    }
    OTHER
}

fn kind(e: &(dyn Error + 'static)) -> Option<i32> {
    if e.is::<ConfigError>()
        || e.is::<ferrite_core::address::AddressError>()
        || e.is::<crate::fdlimit::BudgetError>()
    {
        return Some(CONFIG);
    }
    if e.is::<GenesisFileError>() || e.is::<ferrite_core::genesis::GenesisError>() {
        return Some(GENESIS);
    }
    if let Some(s) = e.downcast_ref::<StoreError>() {
        return store(s);
    }
    // Transparent wrappers hide the store error from the source chain: look inside.
    if let Some(ChainError::Store(s)) = e.downcast_ref::<ChainError>() {
        return store(s);
    }
    if e.is::<ListenError>() {
        return Some(LISTEN);
    }
    if e.is::<ChainFileError>() {
        return Some(CHAIN_FILE);
    }
    if let Some(x) = e.downcast_ref::<ExportError>() {
        return match x {
            ExportError::File { .. } => Some(CHAIN_FILE),
            ExportError::Store(s) | ExportError::Chain(ChainError::Store(s)) => store(s),
            ExportError::Chain(_) | ExportError::Missing { .. } => Some(CORRUPT),
        };
    }
    if e.is::<JoinError>() {
        return Some(JOIN);
    }
    None
}

fn store(s: &StoreError) -> Option<i32> {
    match s {
        StoreError::WrongGenesis { .. } => Some(GENESIS),
        StoreError::Locked(_) | StoreError::Unusable { .. } | StoreError::Schema { .. } => {
            Some(DATA_DIR)
        }
        StoreError::Corrupt(_) => Some(CORRUPT),
        StoreError::Rocks(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(e: anyhow::Error) -> i32 {
        code(e.chain())
    }

    #[test]
    fn each_kind_has_its_code_through_context() {
        use anyhow::Context;
        let config: anyhow::Result<()> = Err(ConfigError::Invalid("x".into()).into());
        assert_eq!(of(config.context("outer").unwrap_err()), CONFIG);
        let locked = StoreError::Locked("/d".into());
        assert_eq!(of(anyhow::Error::new(locked).context("open")), DATA_DIR);
        assert_eq!(of(StoreError::Corrupt("r".into()).into()), CORRUPT);
        let wrong = StoreError::WrongGenesis {
            found: ferrite_core::Hash([1; 32]),
            expected: ferrite_core::Hash([2; 32]),
        };
        assert_eq!(of(wrong.into()), GENESIS);
        let listen = ListenError {
            what: "HTTP",
            addr: "127.0.0.1:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert_eq!(of(listen.into()), LISTEN);
        let file = ChainFileError::BadMagic;
        assert_eq!(of(anyhow::Error::new(file).context("import")), CHAIN_FILE);
        assert_eq!(of(JoinError::NoPeers.into()), JOIN);
        let limit = crate::fdlimit::BudgetError::TooSmall {
            limit: 100,
            needed: 352,
        };
        assert_eq!(of(limit.into()), CONFIG);
        assert_eq!(of(anyhow::anyhow!("something else")), OTHER);
        // An export that fails in the store reports the store's kind.
        let export = ExportError::Store(StoreError::Corrupt("r".into()));
        assert_eq!(of(export.into()), CORRUPT);
        let chain = ChainError::Store(StoreError::Locked("/d".into()));
        assert_eq!(of(anyhow::Error::new(chain).context("open")), DATA_DIR);
    }

    #[test]
    fn the_codes_are_distinct() {
        let mut all = [
            OK,
            OTHER,
            USAGE,
            CONFIG,
            GENESIS,
            DATA_DIR,
            CORRUPT,
            LISTEN,
            CHAIN_FILE,
            JOIN,
            INTERRUPTED,
            STDOUT_CLOSED,
        ];
        all.sort_unstable();
        let n = all.len();
        let mut d = all.to_vec();
        d.dedup();
        assert_eq!(d.len(), n);
    }
}
