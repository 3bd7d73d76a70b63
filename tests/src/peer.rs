//! A test peer that speaks Ferrite's wire protocol over a real socket, inside the encrypted
//! transport (the node's own handshake and record codecs, driven with blocking I/O): it
//! observes nodes (their tip and state root, through `GetHeaders`), feeds them transfers, and
//! misbehaves on purpose.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ferrite_core::{Block, BlockHeader, Hash, SignedTransaction, Work};
use ferrite_node::p2p::identity::{Identity, NodeId};
use ferrite_node::p2p::secure::{self, Handshake, Move, Opener, Role, Sealer, LEN_PREFIX};
use ferrite_node::p2p::wire::{
    network_magic, type_info, Message, Version, FRAME_HEADER_LEN, PROTOCOL_VERSION,
};

/// A connection to a node.
pub struct WirePeer {
    stream: TcpStream,
    magic: [u8; 4],
    /// The node's `Version`.
    pub version: Version,
    /// The node's id, as it proved it in the transport's handshake.
    pub node_id: NodeId,
    opener: Opener,
    sealer: Sealer,
    plain: Vec<u8>,
    pos: usize,
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The transport's handshake over a blocking socket, as a dialler with a fresh identity on the
/// chain `genesis`.
pub fn secure_dial(
    stream: &mut TcpStream,
    genesis: Hash,
    expect: Option<NodeId>,
) -> std::io::Result<secure::Session> {
    let me = Identity::generate();
    let role = Role::Dialer { expect };
    let mut hs = Handshake::new(&me, &secure::OurChain::bare(genesis), role).map_err(other)?;
    for m in role.moves() {
        match m {
            Move::Send => stream.write_all(&hs.write().map_err(other)?)?,
            Move::Receive(len) => {
                let mut prefix = [0u8; LEN_PREFIX];
                stream.read_exact(&mut prefix)?;
                secure::check_handshake_len(prefix, len).map_err(other)?;
                let mut msg = vec![0u8; len];
                stream.read_exact(&mut msg)?;
                hs.read(&msg).map_err(other)?;
            }
        }
    }
    hs.finish().map_err(other)
}

/// What a node's best chain looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipView {
    /// Height.
    pub height: u64,
    /// Tip id.
    pub hash: Hash,
    /// State root committed in the tip header.
    pub state_root: Hash,
    /// Every header of the chain after genesis.
    pub headers: Vec<BlockHeader>,
}

/// True if the other end closes or resets `stream` within `secs` (whatever it sent before);
/// false if it is still open then.
pub fn closed_within(stream: &mut TcpStream, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A `Version` for chain `genesis` advertising `listen_port`.
pub fn version(genesis: Hash, listen_port: u16) -> Version {
    Version {
        protocol: PROTOCOL_VERSION,
        genesis,
        height: 0,
        work: Work::ZERO,
        listen_port,
        nonce: rand::random(),
        user_agent: "ferrite-tests".into(),
    }
}

impl WirePeer {
    /// Opens a TCP connection without any handshake.
    pub fn raw(addr: SocketAddr) -> std::io::Result<TcpStream> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(s)
    }

    /// Connects and completes both handshakes (the transport's, then `Version` with `ours`).
    pub fn connect(addr: SocketAddr, magic_genesis: Hash, ours: Version) -> std::io::Result<Self> {
        Self::over(Self::raw(addr)?, magic_genesis, ours)
    }

    /// Completes both handshakes over `stream`, a fresh connection to a node.
    pub fn over(
        mut stream: TcpStream,
        magic_genesis: Hash,
        ours: Version,
    ) -> std::io::Result<Self> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let magic = network_magic(&magic_genesis);
        let session = secure_dial(&mut stream, magic_genesis, None)?;
        let node_id = session.peer();
        let (opener, sealer) = session.codecs();
        let mut p = WirePeer {
            stream,
            magic,
            version: ours.clone(),
            node_id,
            opener,
            sealer,
            plain: Vec::new(),
            pos: 0,
        };
        p.send(&Message::Version(ours))?;
        let mut theirs = None;
        let mut acked = false;
        while theirs.is_none() || !acked {
            match p.recv()? {
                Message::Version(v) => {
                    p.send(&Message::Verack)?;
                    theirs = Some(v);
                }
                Message::Verack => acked = true,
                _ => {}
            }
        }
        if let Some(v) = theirs {
            p.version = v;
        }
        Ok(p)
    }

    /// Connects to a node of chain `genesis` with a random listen port of 0 (none).
    pub fn observe(addr: SocketAddr, genesis: Hash) -> std::io::Result<Self> {
        Self::connect(addr, genesis, version(genesis, 0))
    }

    /// How long a read may wait before failing with a timeout.
    pub fn set_read_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.stream.set_read_timeout(Some(d))
    }

    /// Sends a message.
    pub fn send(&mut self, m: &Message) -> std::io::Result<()> {
        self.send_raw(&m.to_frame(self.magic))
    }

    /// Sends raw bytes inside the cipher (where the node expects frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.sealer.seal(bytes, &mut out).map_err(other)?;
        self.stream.write_all(&out)
    }

    /// Fills `out` from the node's stream, decrypting records as they come.
    fn read_exact(&mut self, out: &mut [u8]) -> std::io::Result<()> {
        let mut filled = 0;
        while filled < out.len() {
            if self.pos == self.plain.len() {
                let mut prefix = [0u8; LEN_PREFIX];
                self.stream.read_exact(&mut prefix)?;
                let mut record = vec![0u8; Opener::record_len(prefix).map_err(other)?];
                self.stream.read_exact(&mut record)?;
                self.opener.open(&record, &mut self.plain).map_err(other)?;
                self.pos = 0;
            }
            let n = (out.len() - filled).min(self.plain.len() - self.pos);
            out[filled..filled + n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
        }
        Ok(())
    }

    /// The magic of this connection's chain.
    pub fn magic(&self) -> [u8; 4] {
        self.magic
    }

    /// Reads the next message (answering pings on the way).
    pub fn recv(&mut self) -> std::io::Result<Message> {
        loop {
            let mut head = [0u8; FRAME_HEADER_LEN];
            self.read_exact(&mut head)?;
            let len = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
            let cap = type_info(head[4], 64 << 20).map(|t| t.1).unwrap_or(0);
            if len > cap {
                return Err(std::io::Error::other("frame over its cap"));
            }
            let mut payload = vec![0u8; len];
            self.read_exact(&mut payload)?;
            let m = Message::decode(head[4], &payload)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if let Message::Ping(n) = m {
                self.send(&Message::Pong(n))?;
                continue;
            }
            return Ok(m);
        }
    }

    /// Reads messages until `pick` returns something, or `secs` pass.
    pub fn wait_for<T>(
        &mut self,
        secs: u64,
        mut pick: impl FnMut(&mut Self, Message) -> Option<T>,
    ) -> std::io::Result<T> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let m = self.recv()?;
            if let Some(t) = pick(self, m) {
                return Ok(t);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "expected message did not come",
        ))
    }

    /// True if the node closes the connection within `secs` (whatever it sent before); false
    /// if it is still open then.
    pub fn closed_within(&mut self, secs: u64) -> bool {
        closed_within(&mut self.stream, secs)
    }

    /// The node's best chain: every header after genesis (by `GetHeaders` from genesis).
    pub fn tip(&mut self) -> std::io::Result<TipView> {
        let genesis = self.version.genesis;
        let mut headers: Vec<BlockHeader> = Vec::new();
        loop {
            let from = headers.last().map(|h| h.hash()).unwrap_or(genesis);
            self.send(&Message::GetHeaders {
                locator: vec![from],
                stop: Hash::ZERO,
            })?;
            let batch = self.wait_for(20, |_, m| match m {
                Message::Headers(hs) => Some(hs),
                _ => None,
            })?;
            let n = batch.len();
            headers.extend(batch);
            if n < ferrite_node::p2p::wire::MAX_HEADERS {
                break;
            }
        }
        let (height, hash, state_root) = match headers.last() {
            Some(h) => (h.height, h.hash(), h.state_root),
            None => (0, genesis, Hash::ZERO),
        };
        Ok(TipView {
            height,
            hash,
            state_root,
            headers,
        })
    }

    /// Fetches full blocks by id.
    pub fn blocks(&mut self, ids: &[Hash]) -> std::io::Result<Vec<Block>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(ferrite_node::p2p::wire::MAX_BLOCK_REQUEST) {
            self.send(&Message::GetBlocks(chunk.to_vec()))?;
            let mut got = 0;
            while got < chunk.len() {
                match self.recv()? {
                    Message::Block(b) => {
                        got += 1;
                        out.push(b);
                    }
                    Message::NotFound(hs) => got += hs.len(),
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Offers a transfer the way a relaying peer does: announce, then answer the request.
    pub fn relay_tx(&mut self, tx: &SignedTransaction) -> std::io::Result<()> {
        let id = tx.id();
        self.send(&Message::InvTx(vec![id]))?;
        let tx = *tx;
        self.wait_for(20, move |p, m| match m {
            Message::GetTxs(ids) if ids.contains(&id) => Some(p.send(&Message::Txs(vec![tx]))),
            _ => None,
        })?
    }
}
