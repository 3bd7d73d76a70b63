//! Joining a dev chain by asking a peer for its genesis (`--dev --peer ADDR` with no chain
//! yet): the transport's genesis request ([`super::secure::ask_genesis`]) to each configured
//! peer in turn, until one hands over a dev genesis whose document hashes to the id it named.
//!
//! The answer is not authenticated (nothing is known of the peer yet), which is why only a dev
//! chain is taken this way: a real network's genesis comes from a file the operator chose.

use std::time::Duration;

use ferrite_core::dev::DEV_CHAIN_NAME;
use ferrite_core::{GenesisConfig, Hash};
use tokio::net::TcpStream;

use super::secure::{self, TransportError};
use super::PeerSpec;

/// How long one peer gets to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no peer's genesis was taken.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// No peer was configured.
    #[error("no --peer to ask for a genesis")]
    NoPeers,
    /// The peer's name did not resolve.
    #[error("{peer}: cannot resolve: {source}")]
    Resolve {
        /// The peer.
        peer: String,
        /// Why.
        source: std::io::Error,
    },
    /// No connection could be made.
    #[error("{peer}: cannot connect: {source}")]
    Connect {
        /// The peer.
        peer: String,
        /// Why.
        source: std::io::Error,
    },
    /// The peer did not answer in time.
    #[error("{peer}: no answer within {ASK_TIMEOUT:?}")]
    Timeout {
        /// The peer.
        peer: String,
    },
    /// The exchange failed.
    #[error("{peer}: {source}")]
    Transport {
        /// The peer.
        peer: String,
        /// Why.
        source: TransportError,
    },
    /// The peer named its chain but sent no usable document.
    #[error("{peer}: its genesis document is not valid: {source}")]
    BadDocument {
        /// The peer.
        peer: String,
        /// Why.
        source: ferrite_core::genesis::GenesisError,
    },
    /// The document does not hash to the id the peer named.
    #[error("{peer}: its genesis document hashes to {got}, not the chain id {named} it named")]
    WrongHash {
        /// The peer.
        peer: String,
        /// The id it named.
        named: Hash,
        /// The document's hash.
        got: Hash,
    },
    /// The peer's chain is not a dev chain.
    #[error("{peer} is on chain {name:?}, not a dev chain: start with --genesis FILE to join it")]
    NotDev {
        /// The peer.
        peer: String,
        /// Its chain name.
        name: String,
    },
}

/// Asks each of `peers` in turn; the first dev genesis that checks out wins, with the peer
/// that gave it. The error is the last peer's.
pub async fn fetch_dev_genesis(
    peers: &[PeerSpec],
) -> Result<(GenesisConfig, &PeerSpec), JoinError> {
    let mut last = JoinError::NoPeers;
    for (i, p) in peers.iter().enumerate() {
        if i > 0 {
            tracing::warn!(error = %last, "no genesis from this peer; asking the next");
        }
        match ask(&p.addr).await {
            Ok(cfg) => return Ok((cfg, p)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn ask(peer: &str) -> Result<GenesisConfig, JoinError> {
    let name = || peer.to_string();
    let addrs: Vec<_> = tokio::net::lookup_host(peer)
        .await
        .map_err(|source| JoinError::Resolve {
            peer: name(),
            source,
        })?
        .collect();
    let exchange = async {
        let mut stream =
            TcpStream::connect(&addrs[..])
                .await
                .map_err(|source| JoinError::Connect {
                    peer: name(),
                    source,
                })?;
        secure::ask_genesis(&mut stream)
            .await
            .map_err(|source| JoinError::Transport {
                peer: name(),
                source,
            })
    };
    let notice = tokio::time::timeout(ASK_TIMEOUT, exchange)
        .await
        .map_err(|_| JoinError::Timeout { peer: name() })??;
    let bad = |source| JoinError::BadDocument {
        peer: name(),
        source,
    };
    let text = String::from_utf8_lossy(&notice.doc);
    let cfg = GenesisConfig::from_json(&text).map_err(bad)?;
    let got = cfg.build().map_err(bad)?.params.genesis_hash;
    if got != notice.genesis {
        return Err(JoinError::WrongHash {
            peer: name(),
            named: notice.genesis,
            got,
        });
    }
    if cfg.chain_name != DEV_CHAIN_NAME {
        return Err(JoinError::NotDev {
            peer: name(),
            name: cfg.chain_name,
        });
    }
    Ok(cfg)
}
