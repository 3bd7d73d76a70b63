//! Why a peer is banned: each a protocol violation an honest peer never commits.

use ferrite_core::validation::BlockError;
use ferrite_core::Hash;

use crate::mempool::MempoolError;
use crate::p2p::wire::WireError;

/// Why a peer is banned: each a protocol violation an honest peer never commits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misbehavior {
    /// A frame or message that does not decode, or breaks its cap.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A message other than the handshake's before the handshake completed.
    #[error("{0} before the handshake completed")]
    BeforeHandshake(&'static str),
    /// A second `Version` or `Verack`.
    #[error("second handshake")]
    SecondHandshake,
    /// A peer of another chain.
    #[error("wrong genesis {theirs} (ours is {ours})")]
    WrongGenesis {
        /// Theirs.
        theirs: Hash,
        /// Ours.
        ours: Hash,
    },
    /// Messages or bytes above the per-peer rate.
    #[error("message rate limit exceeded")]
    RateLimit,
    /// Transport records above the per-peer rate (frames cut into tiny records).
    #[error("record rate limit exceeded")]
    RecordFlood,
    /// A block whose body is not the one its header commits to.
    #[error("block {0} does not match its header's merkle root")]
    MerkleMismatch(Hash),
    /// Headers that do not link to each other.
    #[error("sent headers that are not a chain")]
    HeadersNotChain,
    /// An answer to `GetHeaders` that does not connect to our locator.
    #[error("sent a header chain that does not connect (unknown parent {0})")]
    HeadersDoNotConnect(Hash),
    /// Announcements that never connect.
    #[error("keeps announcing headers that do not connect")]
    KeepsUnconnecting,
    /// A header that breaks a consensus rule.
    #[error("sent an invalid header: {0}")]
    InvalidHeader(BlockError),
    /// Headers of a block known to be invalid.
    #[error("sent headers of invalid block {0}")]
    HeadersOfInvalid(Hash),
    /// A block that breaks a rule checked before connecting it.
    #[error("sent invalid block {hash}: {error}")]
    InvalidBlock {
        /// The block.
        hash: Hash,
        /// The rule.
        error: BlockError,
    },
    /// A block of a branch known to be invalid.
    #[error("sent a block of invalid branch {0}")]
    BlockOfInvalidBranch(Hash),
    /// A block that failed full validation when the chain connected it.
    #[error("sent block {0} that failed validation")]
    BlockFailedValidation(Hash),
    /// A transfer with a bad signature or that breaks a stateless rule.
    #[error("relayed an invalid transfer: {0}")]
    InvalidTransfer(MempoolError),
    /// A compact block whose header does not meet the target it names.
    #[error("sent compact block {0} whose header lacks its proof of work")]
    CompactWithoutWork(Hash),
    /// A compact block that breaks the format's rules.
    #[error("sent a malformed compact block {0}: {1}")]
    BadCompact(Hash, crate::p2p::compact::CompactError),
    /// A `GetBlockTxs` naming positions the block does not have, or out of order.
    #[error("asked for transfers of block {0} at positions it does not have")]
    BadBlockTxsRequest(Hash),
}
