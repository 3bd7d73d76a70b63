//! ferrite-core: the types, encodings and consensus rules every Ferrite node and wallet agree on.
//!
//! Pure code: no I/O, no async, no storage. The node and the wallet build on it; the one block
//! validation entry point is [`validation::connect_block`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod amount;
pub mod asert;
pub mod block;
pub mod body;
pub mod dev;
pub mod encoding;
pub mod fuzzing;
pub mod genesis;
pub mod hash;
pub mod keys;
pub mod ledger;
pub mod lthash;
pub mod merkle;
pub mod state;
pub mod target;
pub mod template;
pub mod transaction;
pub mod validation;
pub mod verify;

pub use address::{Address, AddressPrefix};
pub use block::{Block, BlockHeader};
pub use body::BodyChecked;
pub use encoding::{Decode, DecodeError, Encode};
pub use genesis::{ChainParams, Genesis, GenesisConfig};
pub use hash::Hash;
pub use keys::{PublicKey, SecretKey, Signature};
pub use state::{Account, State};
pub use target::{Target, Work};
pub use transaction::{IdentifiedTx, SignedTransaction, Transaction};
