//! The seed nodes built into the binary: where a node on the public testnet starts looking for
//! peers before its address book knows anyone (`testnet-seeds.txt` at the repository root).

use crate::p2p::{PeerSpec, PeerSpecError};

/// The testnet's seed list, as built in.
pub const TESTNET_SEEDS: &str = include_str!("../../testnet-seeds.txt");

/// The entries of a seed list: one `[id@]host:port` per line, `#` comments, blank lines
/// skipped.
pub fn parse(list: &str) -> Result<Vec<PeerSpec>, PeerSpecError> {
    list.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_list_parses() {
        assert!(parse(TESTNET_SEEDS).is_ok());
    }

    #[test]
    fn entries_comments_and_errors() {
        let id = "11".repeat(32);
        let list = format!("# seeds\n\nseed.example:9733  # one\n{id}@10.0.0.1:9733\n");
        let got = parse(&list).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].addr, "seed.example:9733");
        assert!(got[0].id.is_none() && got[1].id.is_some());
        assert!(parse("no-port\n").is_err());
    }
}
