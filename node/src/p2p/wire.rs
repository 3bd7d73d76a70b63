//! The wire format: frames and messages of Ferrite's P2P protocol (docs/protocol.md).
//!
//! A frame is `magic (4) | type (1) | length (u32 LE) | payload`. The magic is derived from the
//! genesis hash, so nodes of different chains never parse each other's traffic. Each message
//! type has its own size cap, checked from the frame header before the payload is read; before
//! the handshake only small handshake messages are accepted. Payloads use ferrite-core's
//! canonical encodings (fixed-width little-endian integers, u32 counts) and must be consumed
//! exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ferrite_core::encoding::{put_u32, put_u64, Decode, DecodeError, Encode, Reader};
use ferrite_core::{Block, BlockHeader, Hash, SignedTransaction, Work};

use super::compact::CompactBlock;

/// Version of this protocol; a peer with another version is refused at the handshake.
pub const PROTOCOL_VERSION: u32 = 1;
/// Frame header: magic, type, length.
pub const FRAME_HEADER_LEN: usize = 9;
/// Largest frame accepted before the handshake completes: a `Version` is under 200 bytes, so a
/// stranger cannot make the node buffer more than this.
pub const MAX_PREHANDSHAKE_PAYLOAD: usize = 256;
/// Most headers in one `Headers` message (320 KB): enough to sync quickly, small enough to
/// validate in a few milliseconds.
pub const MAX_HEADERS: usize = 2000;
/// Most ids in one `GetBlocks` or `NotFound`.
pub const MAX_BLOCK_REQUEST: usize = 128;
/// Most ids in one transaction announcement or request, and transfers in one `Txs`.
pub const MAX_TX_BATCH: usize = 1000;
/// Most addresses in one `Addr` message.
pub const MAX_ADDRS: usize = 1000;
/// Longest user agent string.
pub const MAX_USER_AGENT: usize = 64;

/// Encoded length of a socket address: family byte, 16 address bytes, port.
const ADDR_LEN: usize = 1 + 16 + 2;

/// Why bytes from a peer are not a valid frame or message.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The frame does not start with this chain's magic.
    #[error("wrong network magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The message type is not one this version knows.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// The frame is longer than its type allows.
    #[error("{kind} frame of {len} bytes exceeds its cap of {cap}")]
    TooLarge {
        /// Message type.
        kind: &'static str,
        /// Announced payload length.
        len: usize,
        /// Its cap.
        cap: usize,
    },
    /// The payload does not decode as its type.
    #[error("malformed {kind} payload: {error}")]
    Malformed {
        /// Message type.
        kind: &'static str,
        /// What failed.
        error: DecodeError,
    },
    /// A flag byte that is neither 0 nor 1.
    #[error("flag byte {0} is neither 0 nor 1")]
    BadFlag(u8),
    /// A list has more entries than its type allows.
    #[error("{kind} carries {count} entries, more than {cap}")]
    TooMany {
        /// Message type.
        kind: &'static str,
        /// Entries announced.
        count: usize,
        /// Cap.
        cap: usize,
    },
}

/// The handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The sender's genesis id.
    pub genesis: Hash,
    /// Height of the sender's tip.
    pub height: u64,
    /// Cumulative work of the sender's tip.
    pub work: Work,
    /// Port the sender accepts connections on (0: none); the host is the connection's.
    pub listen_port: u16,
    /// Random per-process value: receiving our own nonce means we dialled ourselves.
    pub nonce: u64,
    /// Free text naming the software.
    pub user_agent: String,
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Opens the handshake.
    Version(Version),
    /// Accepts the peer's `Version`.
    Verack,
    /// Liveness probe.
    Ping(u64),
    /// Answer to `Ping` with its nonce.
    Pong(u64),
    /// Asks for addresses of other nodes.
    GetAddr,
    /// Addresses of nodes that accept connections.
    Addr(Vec<SocketAddr>),
    /// Asks for headers of the best chain after the first locator id the peer knows.
    GetHeaders {
        /// Block locator, newest first.
        locator: Vec<Hash>,
        /// Stop after this id (zero: up to [`MAX_HEADERS`]).
        stop: Hash,
    },
    /// Headers, each the child of the one before; also how new blocks are announced.
    Headers(Vec<BlockHeader>),
    /// Asks for full blocks.
    GetBlocks(Vec<Hash>),
    /// A full block.
    Block(Block),
    /// Requested blocks the sender does not have.
    NotFound(Vec<Hash>),
    /// Announces transfers by id.
    InvTx(Vec<Hash>),
    /// Asks for announced transfers.
    GetTxs(Vec<Hash>),
    /// Transfers.
    Txs(Vec<SignedTransaction>),
    /// Asks to receive new blocks as compact blocks; with `true` (high bandwidth), sent at once
    /// and unannounced, before the sender has connected them.
    SendCompact(bool),
    /// A block as its header, short ids and prefilled transfers.
    CompactBlock {
        /// The block.
        compact: CompactBlock,
        /// The sender connected the block before sending it (false: forwarded in high-bandwidth
        /// mode before validation, so its sender does not answer for the block's validity).
        validated: bool,
    },
    /// Asks for the transfers at these positions of a compact block the sender sent.
    GetBlockTxs {
        /// The block.
        block: Hash,
        /// Positions, increasing.
        indexes: Vec<u32>,
    },
    /// The answer to `GetBlockTxs`: the transfers asked for, in order.
    BlockTxs {
        /// The block.
        block: Hash,
        /// The transfers.
        txs: Vec<SignedTransaction>,
    },
}

/// Message type codes on the wire.
mod code {
    pub const VERSION: u8 = 0;
    pub const VERACK: u8 = 1;
    pub const PING: u8 = 2;
    pub const PONG: u8 = 3;
    pub const GET_ADDR: u8 = 4;
    pub const ADDR: u8 = 5;
    pub const GET_HEADERS: u8 = 6;
    pub const HEADERS: u8 = 7;
    pub const GET_BLOCKS: u8 = 8;
    pub const BLOCK: u8 = 9;
    pub const NOT_FOUND: u8 = 10;
    pub const INV_TX: u8 = 11;
    pub const GET_TXS: u8 = 12;
    pub const TXS: u8 = 13;
    pub const SEND_COMPACT: u8 = 14;
    pub const COMPACT_BLOCK: u8 = 15;
    pub const GET_BLOCK_TXS: u8 = 16;
    pub const BLOCK_TXS: u8 = 17;
}

/// The 4-byte network magic of the chain with this genesis.
pub fn network_magic(genesis: &Hash) -> [u8; 4] {
    let k = blake3::derive_key("ferrite 2026-11-26 network magic v1", &genesis.0);
    [k[0], k[1], k[2], k[3]]
}

/// Name and payload cap of a message type; `None` for unknown types.
pub fn type_info(code: u8, max_block_size: usize) -> Option<(&'static str, usize)> {
    let list = |item: usize, cap: usize| 4 + item * cap;
    // The most transfers a block of this chain can hold.
    let max_txs = max_block_size / ferrite_core::transaction::SIGNED_TX_LEN;
    Some(match code {
        code::VERSION => ("version", 4 + 32 + 8 + 32 + 2 + 8 + 4 + MAX_USER_AGENT),
        code::VERACK => ("verack", 0),
        code::PING => ("ping", 8),
        code::PONG => ("pong", 8),
        code::GET_ADDR => ("getaddr", 0),
        code::ADDR => ("addr", list(ADDR_LEN, MAX_ADDRS)),
        code::GET_HEADERS => ("getheaders", list(32, crate::chain::MAX_LOCATOR_LEN) + 32),
        code::HEADERS => (
            "headers",
            list(ferrite_core::block::HEADER_LEN, MAX_HEADERS),
        ),
        code::GET_BLOCKS => ("getblocks", list(32, MAX_BLOCK_REQUEST)),
        code::BLOCK => ("block", max_block_size),
        code::NOT_FOUND => ("notfound", list(32, MAX_BLOCK_REQUEST)),
        code::INV_TX => ("invtx", list(32, MAX_TX_BATCH)),
        code::GET_TXS => ("gettxs", list(32, MAX_TX_BATCH)),
        code::TXS => (
            "txs",
            list(ferrite_core::transaction::SIGNED_TX_LEN, MAX_TX_BATCH),
        ),
        code::SEND_COMPACT => ("sendcompact", 1),
        // Largest when every transfer is prefilled.
        code::COMPACT_BLOCK => ("compactblock", 1 + CompactBlock::size_with(0, max_txs)),
        code::GET_BLOCK_TXS => ("getblocktxs", 32 + list(4, max_txs)),
        code::BLOCK_TXS => (
            "blocktxs",
            32 + list(ferrite_core::transaction::SIGNED_TX_LEN, max_txs),
        ),
        _ => return None,
    })
}

impl Message {
    /// The type code.
    pub fn code(&self) -> u8 {
        match self {
            Message::Version(_) => code::VERSION,
            Message::Verack => code::VERACK,
            Message::Ping(_) => code::PING,
            Message::Pong(_) => code::PONG,
            Message::GetAddr => code::GET_ADDR,
            Message::Addr(_) => code::ADDR,
            Message::GetHeaders { .. } => code::GET_HEADERS,
            Message::Headers(_) => code::HEADERS,
            Message::GetBlocks(_) => code::GET_BLOCKS,
            Message::Block(_) => code::BLOCK,
            Message::NotFound(_) => code::NOT_FOUND,
            Message::InvTx(_) => code::INV_TX,
            Message::GetTxs(_) => code::GET_TXS,
            Message::Txs(_) => code::TXS,
            Message::SendCompact(_) => code::SEND_COMPACT,
            Message::CompactBlock { .. } => code::COMPACT_BLOCK,
            Message::GetBlockTxs { .. } => code::GET_BLOCK_TXS,
            Message::BlockTxs { .. } => code::BLOCK_TXS,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        type_info(self.code(), 0).map(|t| t.0).unwrap_or("?")
    }

    /// The whole frame for this message.
    pub fn to_frame(&self, magic: [u8; 4]) -> Vec<u8> {
        let mut payload = Vec::new();
        self.encode_payload(&mut payload);
        let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
        out.extend_from_slice(&magic);
        out.push(self.code());
        put_u32(&mut out, payload.len() as u32);
        out.extend_from_slice(&payload);
        out
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        fn encode_txs(out: &mut Vec<u8>, txs: &[SignedTransaction]) {
            put_u32(out, txs.len() as u32);
            for t in txs {
                t.encode_to(out);
            }
        }
        fn hashes(out: &mut Vec<u8>, hs: &[Hash]) {
            put_u32(out, hs.len() as u32);
            for h in hs {
                out.extend_from_slice(&h.0);
            }
        }
        match self {
            Message::Version(v) => {
                put_u32(out, v.protocol);
                out.extend_from_slice(&v.genesis.0);
                put_u64(out, v.height);
                out.extend_from_slice(&v.work.to_be_bytes());
                out.extend_from_slice(&v.listen_port.to_le_bytes());
                put_u64(out, v.nonce);
                let ua = truncate_utf8(&v.user_agent, MAX_USER_AGENT);
                put_u32(out, ua.len() as u32);
                out.extend_from_slice(ua.as_bytes());
            }
            Message::Verack | Message::GetAddr => {}
            Message::Ping(n) | Message::Pong(n) => put_u64(out, *n),
            Message::Addr(addrs) => {
                put_u32(out, addrs.len() as u32);
                for a in addrs {
                    encode_addr(out, a);
                }
            }
            Message::GetHeaders { locator, stop } => {
                hashes(out, locator);
                out.extend_from_slice(&stop.0);
            }
            Message::Headers(hs) => {
                put_u32(out, hs.len() as u32);
                for h in hs {
                    h.encode_to(out);
                }
            }
            Message::GetBlocks(hs)
            | Message::NotFound(hs)
            | Message::InvTx(hs)
            | Message::GetTxs(hs) => hashes(out, hs),
            Message::Block(b) => b.encode_to(out),
            Message::Txs(txs) => encode_txs(out, txs),
            Message::BlockTxs { block, txs } => {
                out.extend_from_slice(&block.0);
                encode_txs(out, txs);
            }
            Message::SendCompact(high_bandwidth) => out.push(u8::from(*high_bandwidth)),
            Message::CompactBlock { compact, validated } => {
                out.push(u8::from(*validated));
                compact.encode_to(out);
            }
            Message::GetBlockTxs { block, indexes } => {
                out.extend_from_slice(&block.0);
                put_u32(out, indexes.len() as u32);
                for i in indexes {
                    put_u32(out, *i);
                }
            }
        }
    }

    /// Decodes the payload of a frame of type `code`.
    pub fn decode(code: u8, payload: &[u8]) -> Result<Message, WireError> {
        let kind = type_info(code, 0)
            .map(|t| t.0)
            .ok_or(WireError::UnknownType(code))?;
        let malformed = |error| WireError::Malformed { kind, error };
        let mut r = Reader::new(payload);
        let msg = decode_body(code, kind, &mut r).map_err(|e| match e {
            Inner::Decode(d) => malformed(d),
            Inner::Wire(w) => w,
        })?;
        r.finish().map_err(malformed)?;
        Ok(msg)
    }
}

enum Inner {
    Decode(DecodeError),
    Wire(WireError),
}

impl From<DecodeError> for Inner {
    fn from(e: DecodeError) -> Self {
        Inner::Decode(e)
    }
}

fn capped(r: &mut Reader<'_>, kind: &'static str, item: usize, cap: usize) -> Result<usize, Inner> {
    let n = r.count(item)? as usize;
    if n > cap {
        return Err(Inner::Wire(WireError::TooMany {
            kind,
            count: n,
            cap,
        }));
    }
    Ok(n)
}

fn decode_hashes(r: &mut Reader<'_>, kind: &'static str, cap: usize) -> Result<Vec<Hash>, Inner> {
    let n = capped(r, kind, 32, cap)?;
    (0..n)
        .map(|_| Ok(Hash(r.array()?)))
        .collect::<Result<_, DecodeError>>()
        .map_err(Inner::from)
}

fn decode_body(code: u8, kind: &'static str, r: &mut Reader<'_>) -> Result<Message, Inner> {
    Ok(match code {
        code::VERSION => {
            let protocol = r.u32()?;
            let genesis = Hash(r.array()?);
            let height = r.u64()?;
            let work = Work::from_be_bytes(&r.array()?);
            let listen_port = u16::from_le_bytes(r.array()?);
            let nonce = r.u64()?;
            let n = capped(r, kind, 1, MAX_USER_AGENT)?;
            let user_agent = String::from_utf8_lossy(r.take(n)?).into_owned();
            Message::Version(Version {
                protocol,
                genesis,
                height,
                work,
                listen_port,
                nonce,
                user_agent,
            })
        }
        code::VERACK => Message::Verack,
        code::PING => Message::Ping(r.u64()?),
        code::PONG => Message::Pong(r.u64()?),
        code::GET_ADDR => Message::GetAddr,
        code::ADDR => {
            let n = capped(r, kind, ADDR_LEN, MAX_ADDRS)?;
            let mut addrs = Vec::with_capacity(n);
            for _ in 0..n {
                addrs.push(decode_addr(r)?);
            }
            Message::Addr(addrs)
        }
        code::GET_HEADERS => Message::GetHeaders {
            locator: decode_hashes(r, kind, crate::chain::MAX_LOCATOR_LEN)?,
            stop: Hash(r.array()?),
        },
        code::HEADERS => {
            let n = capped(r, kind, ferrite_core::block::HEADER_LEN, MAX_HEADERS)?;
            let mut hs = Vec::with_capacity(n);
            for _ in 0..n {
                hs.push(BlockHeader::decode_from(r)?);
            }
            Message::Headers(hs)
        }
        code::GET_BLOCKS => Message::GetBlocks(decode_hashes(r, kind, MAX_BLOCK_REQUEST)?),
        code::BLOCK => Message::Block(Block::decode_from(r)?),
        code::NOT_FOUND => Message::NotFound(decode_hashes(r, kind, MAX_BLOCK_REQUEST)?),
        code::INV_TX => Message::InvTx(decode_hashes(r, kind, MAX_TX_BATCH)?),
        code::GET_TXS => Message::GetTxs(decode_hashes(r, kind, MAX_TX_BATCH)?),
        code::TXS => {
            let n = capped(
                r,
                kind,
                ferrite_core::transaction::SIGNED_TX_LEN,
                MAX_TX_BATCH,
            )?;
            let mut txs = Vec::with_capacity(n);
            for _ in 0..n {
                txs.push(SignedTransaction::decode_from(r)?);
            }
            Message::Txs(txs)
        }
        code::SEND_COMPACT => Message::SendCompact(decode_flag(r)?),
        code::COMPACT_BLOCK => Message::CompactBlock {
            validated: decode_flag(r)?,
            compact: CompactBlock::decode_from(r)?,
        },
        code::GET_BLOCK_TXS => {
            let block = Hash(r.array()?);
            let n = r.count(4)? as usize;
            let mut indexes = Vec::with_capacity(n);
            for _ in 0..n {
                indexes.push(r.u32()?);
            }
            Message::GetBlockTxs { block, indexes }
        }
        code::BLOCK_TXS => {
            let block = Hash(r.array()?);
            let n = r.count(ferrite_core::transaction::SIGNED_TX_LEN)? as usize;
            let mut txs = Vec::with_capacity(n);
            for _ in 0..n {
                txs.push(SignedTransaction::decode_from(r)?);
            }
            Message::BlockTxs { block, txs }
        }
        other => return Err(Inner::Wire(WireError::UnknownType(other))),
    })
}

/// A byte that must be 0 or 1.
fn decode_flag(r: &mut Reader<'_>) -> Result<bool, Inner> {
    match r.array::<1>()?[0] {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Inner::Wire(WireError::BadFlag(other))),
    }
}

fn encode_addr(out: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(v4) => {
            out.push(4);
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            out.extend_from_slice(&b);
        }
        IpAddr::V6(v6) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&a.port().to_le_bytes());
}

fn decode_addr(r: &mut Reader<'_>) -> Result<SocketAddr, Inner> {
    let family = r.array::<1>()?[0];
    let b: [u8; 16] = r.array()?;
    let port = u16::from_le_bytes(r.array()?);
    let ip = match family {
        4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        6 => IpAddr::V6(Ipv6Addr::from(b)),
        _ => return Err(Inner::Decode(DecodeError::TrailingBytes(0))),
    };
    Ok(SocketAddr::new(ip, port))
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message) {
        let magic = network_magic(&Hash([7; 32]));
        let frame = m.to_frame(magic);
        assert_eq!(&frame[..4], &magic);
        let len = u32::from_le_bytes([frame[5], frame[6], frame[7], frame[8]]) as usize;
        assert_eq!(len, frame.len() - FRAME_HEADER_LEN);
        let (_, cap) = type_info(frame[4], 1 << 20).unwrap_or(("?", 0));
        assert!(len <= cap, "{} frame {len} over its cap {cap}", m.name());
        assert_eq!(Message::decode(frame[4], &frame[FRAME_HEADER_LEN..]), Ok(m));
    }

    #[test]
    fn every_message_round_trips_within_its_cap() {
        round_trip(Message::Version(Version {
            protocol: PROTOCOL_VERSION,
            genesis: Hash([1; 32]),
            height: 99,
            work: Work::from_be_bytes(&[3; 32]),
            listen_port: 9733,
            nonce: 42,
            user_agent: "é".repeat(MAX_USER_AGENT / 2),
        }));
        round_trip(Message::Verack);
        round_trip(Message::Ping(5));
        round_trip(Message::Pong(6));
        round_trip(Message::GetAddr);
        round_trip(Message::Addr(vec![
            "127.0.0.1:9733".parse().unwrap_or_else(|_| unreachable!()),
            "[::1]:1".parse().unwrap_or_else(|_| unreachable!()),
        ]));
        round_trip(Message::GetHeaders {
            locator: vec![Hash([2; 32]); crate::chain::MAX_LOCATOR_LEN],
            stop: Hash::ZERO,
        });
        round_trip(Message::GetBlocks(vec![Hash([4; 32]); MAX_BLOCK_REQUEST]));
        round_trip(Message::InvTx(vec![Hash([4; 32]); MAX_TX_BATCH]));
        round_trip(Message::NotFound(vec![]));
        round_trip(Message::SendCompact(true));
        round_trip(Message::SendCompact(false));
        round_trip(Message::GetBlockTxs {
            block: Hash([5; 32]),
            indexes: vec![0, 7, 1 << 20],
        });
        round_trip(Message::BlockTxs {
            block: Hash([6; 32]),
            txs: vec![],
        });
        round_trip(Message::CompactBlock {
            compact: CompactBlock {
                header: BlockHeader {
                    version: 1,
                    height: 2,
                    prev: Hash([3; 32]),
                    merkle_root: Hash([4; 32]),
                    state_root: Hash([5; 32]),
                    miner: ferrite_core::Address([6; 32]),
                    timestamp: 7,
                    bits: 8,
                    nonce: 9,
                },
                nonce: 10,
                short_ids: vec![1, (1 << 48) - 1],
                prefilled: vec![],
            },
            validated: true,
        });
    }

    #[test]
    fn compact_messages_are_pinned() {
        let magic = [1, 2, 3, 4];
        assert_eq!(
            Message::SendCompact(true).to_frame(magic),
            vec![1, 2, 3, 4, 14, 1, 0, 0, 0, 1]
        );
        let get = Message::GetBlockTxs {
            block: Hash([9; 32]),
            indexes: vec![3],
        }
        .to_frame(magic);
        let mut want = vec![1, 2, 3, 4, 16, 40, 0, 0, 0];
        want.extend([9; 32]);
        want.extend([1, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(get, want);
        assert_eq!(
            Message::decode(code::SEND_COMPACT, &[2]),
            Err(WireError::BadFlag(2))
        );
    }

    #[test]
    fn user_agent_is_truncated_on_a_char_boundary() {
        assert_eq!(truncate_utf8("ééé", 5), "éé");
        assert_eq!(truncate_utf8("abc", 64), "abc");
    }

    #[test]
    fn lists_over_their_cap_and_trailing_bytes_are_refused() {
        let mut p = Vec::new();
        put_u32(&mut p, (MAX_BLOCK_REQUEST + 1) as u32);
        p.extend(std::iter::repeat_n(0u8, 32 * (MAX_BLOCK_REQUEST + 1)));
        assert!(matches!(
            Message::decode(code::GET_BLOCKS, &p),
            Err(WireError::TooMany { .. })
        ));
        assert!(matches!(
            Message::decode(code::PING, &[0; 9]),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            Message::decode(code::PING, &[0; 7]),
            Err(WireError::Malformed { .. })
        ));
        assert_eq!(Message::decode(200, &[]), Err(WireError::UnknownType(200)));
        // A count larger than the bytes that follow fails before allocating.
        let mut p = Vec::new();
        put_u32(&mut p, u32::MAX);
        assert!(Message::decode(code::TXS, &p).is_err());
        // Bad address family.
        let mut p = Vec::new();
        put_u32(&mut p, 1);
        p.push(9);
        p.extend([0u8; 18]);
        assert!(Message::decode(code::ADDR, &p).is_err());
    }

    #[test]
    fn magic_depends_on_the_genesis() {
        assert_ne!(network_magic(&Hash([1; 32])), network_magic(&Hash([2; 32])));
    }
}
