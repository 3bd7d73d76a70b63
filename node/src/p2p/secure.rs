//! The encrypted, authenticated transport under the frames (docs/protocol.md, "Transport").
//!
//! Right after TCP connects, the two nodes run a Noise `XX` handshake
//! (`Noise_XX_25519_ChaChaPoly_BLAKE2s`, the `snow` crate) with their identity keys
//! ([`super::identity`]); the prologue binds the network magic, so nodes of two networks fail
//! it. The dialler's first message carries its chain id (the genesis hash) in the clear: a
//! listener on another chain answers with a [`ChainNotice`] (its own id and genesis document)
//! instead of its handshake message and hangs up, so both ends can say in words that the other
//! is on another chain, and a dev node can ask a peer for its genesis ([`ASK_GENESIS`]) before
//! it has a chain of its own. Each side then knows the other's node id, and the dialler checks it against a pinned one
//! before it finishes. After that the byte stream of frames travels in records: a 2-byte
//! big-endian length, then that many bytes of ChaCha20-Poly1305 ciphertext (at most 65,535,
//! the last 16 the tag) under an implicit nonce counting records in each direction. A record
//! that fails to authenticate ends the connection: the path, not the peer, may be to blame.
//!
//! The frame reader reads from [`SecureReader`] exactly as it read from the socket, so every
//! frame check (magic, type, caps, rate limits) applies inside the cipher unchanged.

use std::sync::Arc;

use snow::{Builder, HandshakeState, StatelessTransportState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::bucket::Bucket;
use super::conn::{BYTE_BURST, BYTE_RATE, MSG_BURST, MSG_RATE};
use super::identity::{Identity, NodeId, KEY_LEN};
use super::wire::network_magic;
use ferrite_core::Hash;

/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
/// Bound into the handshake with the network magic after it: another transport version, or a
/// node of another network, fails the handshake.
pub const PROLOGUE: &[u8] = b"ferrite p2p noise v1";
/// Bytes of a record's length prefix.
pub const LEN_PREFIX: usize = 2;
/// The largest Noise message (a record's ciphertext, or a handshake message).
pub const MAX_RECORD: usize = 65_535;
/// Bytes of the authentication tag at the end of each record.
pub const TAG_LEN: usize = 16;
/// The most frame bytes one record carries.
pub const MAX_RECORD_PAYLOAD: usize = MAX_RECORD - TAG_LEN;
/// Records sealed and written together: a 256 KiB buffer per connection at most, whatever the
/// size of the frame (a block is shared between the queues of many peers; its ciphertext is
/// not).
pub const RECORDS_PER_WRITE: usize = 4;
/// Sustained records per second accepted from one peer: twice what the frame limits allow a
/// sender that seals each frame in as few records as fit (one per message, plus one per full
/// record of bytes), so a sender that cuts frames somewhat differently (a header apart, smaller
/// records) stays clear of it. Beyond it a peer is making the node pay an AEAD call per tiny
/// record.
pub const RECORD_RATE: f64 = 2.0 * (MSG_RATE + BYTE_RATE / MAX_RECORD_PAYLOAD as f64);
/// Burst of records allowed above the sustained rate, by the same reckoning.
pub const RECORD_BURST: f64 = 2.0 * (MSG_BURST + BYTE_BURST / MAX_RECORD_PAYLOAD as f64);

/// Why the transport failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The Noise handshake failed (a bad message, another network, another transport).
    #[error("noise handshake failed: {0}")]
    Handshake(snow::Error),
    /// The peer's key is not the one pinned for this address.
    #[error("peer presented node id {got}, not the pinned {expected}")]
    WrongPeer {
        /// The pinned id.
        expected: NodeId,
        /// The id the peer proved.
        got: NodeId,
    },
    /// The peer's static key is a point of small order: it proves no secret.
    #[error("peer presented node id {0}, a small-order point that proves no secret")]
    SmallOrderKey(NodeId),
    /// The peer's static key is not in canonical form: it would be a second id for one key.
    #[error("peer presented node id {0}, not in canonical form")]
    NonCanonicalKey(NodeId),
    /// A handshake message of another length than the handshake allows at that point.
    #[error("a handshake message of {len} bytes where {expected} belong")]
    BadHandshakeLength {
        /// The length the prefix named.
        len: usize,
        /// The length the move allows.
        expected: usize,
    },
    /// A record too short to hold its tag and a byte.
    #[error("a record of {0} bytes carries nothing")]
    EmptyRecord(usize),
    /// A record failed to authenticate: changed on the path, or not from this session.
    #[error("a record failed to authenticate")]
    Forged,
    /// Records above [`RECORD_RATE`] (sustained) or [`RECORD_BURST`].
    #[error("records above the per-peer rate")]
    RecordFlood,
    /// The other end is a node of another chain (it sent or answered with another chain id).
    #[error("the peer is on another chain: genesis {theirs}, ours is {ours}")]
    OtherChain {
        /// Our chain id.
        ours: Hash,
        /// The peer's chain id.
        theirs: Hash,
    },
    /// The dialler asked for our genesis ([`ASK_GENESIS`]) instead of connecting.
    #[error("the peer asked for our genesis")]
    GenesisAsked,
    /// Asked for its genesis, the listener answered with a handshake message.
    #[error("the peer answered with a handshake, not its genesis")]
    NoNotice,
    /// A chain notice announcing a genesis document above [`MAX_GENESIS_DOC`].
    #[error("a genesis document of {0} bytes (at most {MAX_GENESIS_DOC})")]
    GenesisTooLarge(usize),
}

/// Which side of the handshake this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It dialled; `expect` is the node id pinned for the address, if any.
    Dialer {
        /// The pinned node id.
        expect: Option<NodeId>,
    },
    /// It accepted the connection.
    Listener,
}

/// One move of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Send [`Handshake::write`]'s message.
    Send,
    /// Receive a message of exactly this many bytes (after its length prefix) for
    /// [`Handshake::read`].
    Receive(usize),
}

/// Bytes of a chain id: the genesis hash.
pub const CHAIN_ID_LEN: usize = 32;
/// Bytes of the three `XX` messages: `e` with the dialler's chain id as its (clear) payload;
/// `e, ee, s, es` and `s, se` with empty payloads.
pub const HANDSHAKE_LENS: [usize; 3] = [32 + CHAIN_ID_LEN, 32 + 48 + 16, 48 + 16];
/// The chain id a dialler sends to ask for the listener's genesis instead of connecting.
pub const ASK_GENESIS: Hash = Hash([0; CHAIN_ID_LEN]);
/// The length prefix that starts a [`ChainNotice`]: no handshake message is empty.
pub const NOTICE_PREFIX: [u8; LEN_PREFIX] = [0, 0];
/// Bytes of a notice after its prefix and before the document: chain id, document length.
pub const NOTICE_HEADER_LEN: usize = CHAIN_ID_LEN + 4;
/// Largest genesis document a notice carries: a larger one is left out (length 0), so that an
/// asking node learns the id but cannot make a listener send much for one message.
pub const MAX_GENESIS_DOC: usize = 64 * 1024;

/// The chain a handshake is for: its id, bound into the handshake, and its genesis document
/// (JSON), handed to a dialler on another chain or asking for it.
#[derive(Debug, Clone)]
pub struct OurChain {
    /// The genesis hash.
    pub genesis: Hash,
    /// The genesis document ([`ferrite_core::GenesisConfig::to_json`]).
    pub doc: Arc<[u8]>,
}

impl OurChain {
    /// The chain `genesis` with its document.
    pub fn new(genesis: Hash, doc: impl Into<Arc<[u8]>>) -> OurChain {
        OurChain {
            genesis,
            doc: doc.into(),
        }
    }

    /// The chain `genesis` without a document to hand out.
    pub fn bare(genesis: Hash) -> OurChain {
        OurChain::new(genesis, Vec::new())
    }
}

/// What a listener sends instead of its handshake message to a dialler of another chain:
/// [`NOTICE_PREFIX`], its chain id, the document's length (u32 little-endian) and the document.
/// Then it hangs up. The notice is not authenticated: it tells, it proves nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNotice {
    /// The listener's chain id.
    pub genesis: Hash,
    /// Its genesis document; empty if larger than [`MAX_GENESIS_DOC`].
    pub doc: Vec<u8>,
}

impl ChainNotice {
    /// The notice of `chain`, prefix included.
    pub fn of(chain: &OurChain) -> ChainNotice {
        let doc = if chain.doc.len() <= MAX_GENESIS_DOC {
            chain.doc.to_vec()
        } else {
            Vec::new()
        };
        ChainNotice {
            genesis: chain.genesis,
            doc,
        }
    }

    /// The bytes on the wire, prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = NOTICE_PREFIX.to_vec();
        out.extend_from_slice(&self.genesis.0);
        out.extend_from_slice(&(self.doc.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.doc);
        out
    }

    /// The chain id and document length from the bytes after the prefix.
    pub fn parse_header(h: &[u8; NOTICE_HEADER_LEN]) -> Result<(Hash, usize), TransportError> {
        let mut id = [0u8; CHAIN_ID_LEN];
        id.copy_from_slice(&h[..CHAIN_ID_LEN]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&h[CHAIN_ID_LEN..]);
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_GENESIS_DOC {
            return Err(TransportError::GenesisTooLarge(len));
        }
        Ok((Hash(id), len))
    }

    /// Reads the rest of a notice (after its prefix) from `io`.
    pub async fn read<S: AsyncRead + Unpin>(io: &mut S) -> Result<ChainNotice, TransportError> {
        let mut header = [0u8; NOTICE_HEADER_LEN];
        io.read_exact(&mut header).await?;
        let (genesis, len) = ChainNotice::parse_header(&header)?;
        let mut doc = vec![0u8; len];
        io.read_exact(&mut doc).await?;
        Ok(ChainNotice { genesis, doc })
    }
}

impl Role {
    /// The handshake's moves for this side, in order.
    pub fn moves(self) -> [Move; 3] {
        let [a, b, c] = HANDSHAKE_LENS;
        match self {
            Role::Dialer { .. } => [Move::Send, Move::Receive(b), Move::Send],
            Role::Listener => [Move::Receive(a), Move::Send, Move::Receive(c)],
        }
    }
}

/// The handshake as a pure state machine: the I/O around it (async for nodes, blocking for
/// test peers) only moves its messages.
pub struct Handshake {
    hs: HandshakeState,
    role: Role,
    chain: OurChain,
    /// Messages read so far.
    read: usize,
    /// Messages written so far.
    written: usize,
}

impl Handshake {
    /// A handshake as `role` with `me` as the static key, for `chain`.
    pub fn new(me: &Identity, chain: &OurChain, role: Role) -> Result<Handshake, TransportError> {
        Handshake::with_ephemeral(me, chain, role, None)
    }

    /// A dialler's handshake that only asks for the listener's genesis: its first message
    /// carries [`ASK_GENESIS`], and the answer is a [`ChainNotice`].
    pub fn asking(me: &Identity) -> Result<Handshake, TransportError> {
        let chain = OurChain::bare(ASK_GENESIS);
        Handshake::new(me, &chain, Role::Dialer { expect: None })
    }

    /// The notice this side sends a dialler of another chain.
    pub fn notice(&self) -> ChainNotice {
        ChainNotice::of(&self.chain)
    }

    /// [`Handshake::new`] with a fixed ephemeral key (tests pin the transcript with it).
    fn with_ephemeral(
        me: &Identity,
        chain: &OurChain,
        role: Role,
        ephemeral: Option<&[u8; KEY_LEN]>,
    ) -> Result<Handshake, TransportError> {
        let prologue = [PROLOGUE, &network_magic(&chain.genesis)].concat();
        let params = NOISE_PARAMS.parse().map_err(TransportError::Handshake)?;
        let mut b = Builder::new(params)
            .local_private_key(me.secret())
            .and_then(|b| b.prologue(&prologue))
            .map_err(TransportError::Handshake)?;
        if let Some(e) = ephemeral {
            b = b.fixed_ephemeral_key_for_testing_only(e);
        }
        let hs = match role {
            Role::Dialer { .. } => b.build_initiator(),
            Role::Listener => b.build_responder(),
        }
        .map_err(TransportError::Handshake)?;
        Ok(Handshake {
            hs,
            role,
            chain: chain.clone(),
            read: 0,
            written: 0,
        })
    }

    /// Our next message, with its length prefix.
    pub fn write(&mut self) -> Result<Vec<u8>, TransportError> {
        let mut msg = vec![0u8; LEN_PREFIX + MAX_RECORD];
        // The dialler's first message names its chain.
        let first = matches!(self.role, Role::Dialer { .. }) && self.written == 0;
        let payload: &[u8] = if first { &self.chain.genesis.0 } else { &[] };
        let n = self
            .hs
            .write_message(payload, &mut msg[LEN_PREFIX..])
            .map_err(TransportError::Handshake)?;
        let len = u16::try_from(n).map_err(|_| TransportError::Handshake(snow::Error::Input))?;
        msg[..LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
        msg.truncate(LEN_PREFIX + n);
        self.written += 1;
        Ok(msg)
    }

    /// The peer's next message (without its prefix). The listener checks the dialler's chain
    /// id in the first; the dialler checks the pinned id as soon as the listener's key is
    /// known, before it sends its own.
    pub fn read(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        let mut payload = vec![0u8; MAX_RECORD];
        let n = self
            .hs
            .read_message(msg, &mut payload)
            .map_err(TransportError::Handshake)?;
        self.read += 1;
        if self.role == Role::Listener && self.read == 1 {
            self.check_chain(&payload[..n])?;
        }
        if let Some(key) = self.remote() {
            if key.is_small_order() {
                return Err(TransportError::SmallOrderKey(key));
            }
            if key.is_non_canonical() {
                return Err(TransportError::NonCanonicalKey(key));
            }
        }
        if let (
            Role::Dialer {
                expect: Some(expected),
            },
            Some(got),
        ) = (self.role, self.remote())
        {
            if got != expected {
                return Err(TransportError::WrongPeer { expected, got });
            }
        }
        Ok(())
    }

    fn check_chain(&self, payload: &[u8]) -> Result<(), TransportError> {
        let theirs = <[u8; CHAIN_ID_LEN]>::try_from(payload)
            .map(Hash)
            .map_err(|_| TransportError::Handshake(snow::Error::Input))?;
        if theirs == ASK_GENESIS {
            return Err(TransportError::GenesisAsked);
        }
        if theirs != self.chain.genesis {
            return Err(TransportError::OtherChain {
                ours: self.chain.genesis,
                theirs,
            });
        }
        Ok(())
    }

    fn remote(&self) -> Option<NodeId> {
        self.hs
            .get_remote_static()
            .and_then(|k| <[u8; KEY_LEN]>::try_from(k).ok())
            .map(NodeId)
    }

    /// The keys of both directions and the peer's id, once every move is made.
    pub fn finish(self) -> Result<Session, TransportError> {
        let peer = self
            .remote()
            .ok_or(TransportError::Handshake(snow::Error::Input))?;
        let state = self
            .hs
            .into_stateless_transport_mode()
            .map_err(TransportError::Handshake)?;
        Ok(Session {
            state: Arc::new(state),
            peer,
        })
    }
}

/// Checks a handshake message's length prefix against the length the move expects: any other
/// length (plaintext, another protocol) ends the handshake before more is read.
pub fn check_handshake_len(
    prefix: [u8; LEN_PREFIX],
    expected: usize,
) -> Result<(), TransportError> {
    let len = usize::from(u16::from_be_bytes(prefix));
    if len != expected {
        return Err(TransportError::BadHandshakeLength { len, expected });
    }
    Ok(())
}

/// A finished handshake: the keys of both directions and the peer's proven id.
pub struct Session {
    state: Arc<StatelessTransportState>,
    peer: NodeId,
}

impl Session {
    /// The node id the peer proved it holds the key of.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// The two directions as pure record codecs.
    pub fn codecs(self) -> (Opener, Sealer) {
        (
            Opener {
                state: self.state.clone(),
                nonce: 0,
            },
            Sealer {
                state: self.state,
                nonce: 0,
            },
        )
    }

    /// The two directions over the halves of an async connection.
    pub fn split<R, W>(self, r: R, w: W) -> (SecureReader<R>, SecureWriter<W>) {
        let (opener, sealer) = self.codecs();
        let reader = SecureReader {
            inner: r,
            opener,
            record: Vec::new(),
            plain: Vec::new(),
            pos: 0,
            records: Bucket::new(RECORD_RATE, RECORD_BURST),
        };
        let writer = SecureWriter {
            inner: w,
            sealer,
            buf: Vec::new(),
        };
        (reader, writer)
    }
}

/// Encrypts the sending direction's bytes into records.
pub struct Sealer {
    state: Arc<StatelessTransportState>,
    nonce: u64,
}

impl Sealer {
    /// Appends `data` to `out` as records (as few as fit; nothing for no data).
    pub fn seal(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        for chunk in data.chunks(MAX_RECORD_PAYLOAD) {
            let start = out.len();
            out.resize(start + LEN_PREFIX + chunk.len() + TAG_LEN, 0);
            let n = self
                .state
                .write_message(self.nonce, chunk, &mut out[start + LEN_PREFIX..])
                .map_err(TransportError::Handshake)?;
            let len =
                u16::try_from(n).map_err(|_| TransportError::Handshake(snow::Error::Input))?;
            out[start..start + LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
            self.nonce += 1;
        }
        Ok(())
    }
}

/// Decrypts the receiving direction's records.
pub struct Opener {
    state: Arc<StatelessTransportState>,
    nonce: u64,
}

impl Opener {
    /// The length of the record whose prefix is `prefix`; a record with no room for a byte
    /// after its tag is refused.
    pub fn record_len(prefix: [u8; LEN_PREFIX]) -> Result<usize, TransportError> {
        let len = usize::from(u16::from_be_bytes(prefix));
        if len <= TAG_LEN {
            return Err(TransportError::EmptyRecord(len));
        }
        Ok(len)
    }

    /// Decrypts the next record (without its prefix) into `out`, replacing its contents (left
    /// empty on an error).
    pub fn open(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        out.resize(record.len().saturating_sub(TAG_LEN), 0);
        match self.state.read_message(self.nonce, record, out) {
            Ok(n) => {
                self.nonce += 1;
                out.truncate(n);
                Ok(())
            }
            Err(_) => {
                out.clear();
                Err(TransportError::Forged)
            }
        }
    }
}

/// Runs the handshake over `io` as `role`, with `me` as the static key, for `chain`.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    me: &Identity,
    chain: &OurChain,
    role: Role,
) -> Result<Session, TransportError> {
    drive(io, Handshake::new(me, chain, role)?).await
}

/// Asks the listener at the other end of `io` for its chain id and genesis document.
pub async fn ask_genesis<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
) -> Result<ChainNotice, TransportError> {
    let mut hs = Handshake::asking(&Identity::generate())?;
    io.write_all(&hs.write()?).await?;
    let mut prefix = [0u8; LEN_PREFIX];
    io.read_exact(&mut prefix).await?;
    if prefix != NOTICE_PREFIX {
        return Err(TransportError::NoNotice);
    }
    ChainNotice::read(io).await
}

/// Makes `hs`'s moves over `io`.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    mut hs: Handshake,
) -> Result<Session, TransportError> {
    for m in hs.role.moves() {
        match m {
            Move::Send => io.write_all(&hs.write()?).await?,
            Move::Receive(len) => {
                let mut prefix = [0u8; LEN_PREFIX];
                io.read_exact(&mut prefix).await?;
                if prefix == NOTICE_PREFIX && hs.role != Role::Listener {
                    let notice = ChainNotice::read(io).await?;
                    return Err(TransportError::OtherChain {
                        ours: hs.chain.genesis,
                        theirs: notice.genesis,
                    });
                }
                check_handshake_len(prefix, len)?;
                let mut msg = vec![0u8; len];
                io.read_exact(&mut msg).await?;
                if let Err(e) = hs.read(&msg) {
                    if matches!(
                        e,
                        TransportError::OtherChain { .. } | TransportError::GenesisAsked
                    ) {
                        io.write_all(&hs.notice().encode()).await?;
                    }
                    return Err(e);
                }
            }
        }
    }
    hs.finish()
}

/// The receiving direction of an async connection: hands out the frame bytes of its records.
pub struct SecureReader<R> {
    inner: R,
    opener: Opener,
    record: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
    records: Bucket,
}

impl<R: AsyncRead + Unpin> SecureReader<R> {
    /// Fills `out` with the next bytes of the peer's stream.
    pub async fn read_exact(&mut self, out: &mut [u8]) -> Result<(), TransportError> {
        let mut filled = 0;
        while filled < out.len() {
            if self.pos == self.plain.len() {
                let mut prefix = [0u8; LEN_PREFIX];
                self.inner.read_exact(&mut prefix).await?;
                self.pos = 0;
                self.plain.clear();
                self.record.resize(Opener::record_len(prefix)?, 0);
                self.inner.read_exact(&mut self.record).await?;
                self.opener.open(&self.record, &mut self.plain)?;
                if !self.records.take(1.0) {
                    return Err(TransportError::RecordFlood);
                }
            }
            let n = (out.len() - filled).min(self.plain.len() - self.pos);
            out[filled..filled + n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
        }
        Ok(())
    }
}

/// The sending direction of an async connection.
pub struct SecureWriter<W> {
    inner: W,
    sealer: Sealer,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> SecureWriter<W> {
    /// Sends `data` (one or more frames) in as few records as fit, [`RECORDS_PER_WRITE`] at
    /// a time, so a connection never holds more than that much ciphertext of a large block.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), TransportError> {
        for batch in data.chunks(RECORDS_PER_WRITE * MAX_RECORD_PAYLOAD) {
            self.buf.clear();
            self.sealer.seal(batch, &mut self.buf)?;
            self.inner.write_all(&self.buf).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
