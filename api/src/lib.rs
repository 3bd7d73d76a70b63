//! The answers of Ferrite's HTTP explorer API (docs/http.md) as Rust types: the node serialises
//! them, the wallet deserialises them, and the node's OpenAPI document is generated from their
//! schemas. A change to a shape is a change here, seen by both sides and by the document.
//!
//! Encodings follow one rule: an integer that can exceed 2^53 (what a JavaScript number holds
//! exactly) is a decimal string: amounts ([`Amount`]), the block nonce and the difficulty.
//! Heights, timestamps, sizes, counts and transfer nonces stay JSON numbers: they grow by one
//! per block, second, byte or transfer and stay far below 2^53. Ids are 64 lower-case hex
//! digits in the byte order of the hash ([`HashHex`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
mod block;
mod error;
mod event;
mod mempool;
mod node;
mod scalar;
mod tx;

pub use account::{AddressInfo, PendingView};
pub use block::{BlockStatus, BlockSummary};
pub use error::ErrorBody;
pub use event::{LaggedEvent, TipEvent, TxEvent};
pub use mempool::{FeeEstimates, FeeGroup, MempoolInfo, MempoolTx};
pub use node::{BestHeader, NodeInfo, NotReady, Peer, Ready, TipInfo};
pub use scalar::{Amount, DecimalError, HashHex, WorkHex, DECIMAL_PATTERN};
pub use tx::{
    ConfirmedStatus, DropReason, Dropped, MerkleProof, PendingStatus, PoolLimit, Tx, TxStatus,
};
