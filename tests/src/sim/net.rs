//! The simulated network: links with their own latency, connections that deliver in order,
//! partitions that cut links between groups, and message drops that break a connection.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrite_node::p2p::compact_conn::CompactReceiver;
use ferrite_node::p2p::fsm::Time;
use ferrite_node::p2p::PeerId;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

/// One end of a connection: a host, its id for the connection, and the host's incarnation
/// (a restarted host has a new one; events for the old one are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// Host index.
    pub host: usize,
    /// The connection's id on that host.
    pub peer: PeerId,
    /// The host's incarnation.
    pub incarnation: u32,
}

/// A connection between two hosts.
#[derive(Debug)]
pub struct Conn {
    /// The dialling end, then the accepting end.
    pub ends: [End; 2],
    /// False once closed.
    pub open: bool,
    /// When the last message in each direction arrives (towards end 0, towards end 1), so
    /// that a connection delivers in order as TCP does.
    last: [Time; 2],
    /// Each end's compact-block rebuild state, as a real connection task keeps it.
    pub compact: [CompactReceiver; 2],
}

/// Links, connections and partitions.
pub struct Net {
    /// Base one-way latency of each pair of hosts, milliseconds.
    base: Vec<Vec<u64>>,
    jitter_ms: u64,
    /// Group of each host while a partition lasts.
    groups: Option<Vec<u8>>,
    /// Every connection ever made, by number.
    pub conns: Vec<Conn>,
    /// The open connection of each (host, peer id).
    by_end: BTreeMap<(usize, PeerId), usize>,
}

impl Net {
    /// `hosts` hosts with base latencies drawn from `latency_ms` (min, max) per pair.
    pub fn new(hosts: usize, latency_ms: (u64, u64), rng: &mut ChaCha20Rng) -> Net {
        let mut base = vec![vec![0; hosts]; hosts];
        let pairs: Vec<(usize, usize)> = (0..hosts)
            .flat_map(|a| ((a + 1)..hosts).map(move |b| (a, b)))
            .collect();
        for (a, b) in pairs {
            let l = rng.gen_range(latency_ms.0..=latency_ms.1.max(latency_ms.0));
            base[a][b] = l;
            base[b][a] = l;
        }
        Net {
            base,
            jitter_ms: (latency_ms.1 / 4).max(1),
            groups: None,
            conns: Vec::new(),
            by_end: BTreeMap::new(),
        }
    }

    /// True when `a` and `b` can reach each other.
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        self.groups.as_ref().is_none_or(|g| g[a] == g[b])
    }

    /// Cuts the network into groups (one per host); `None` heals it.
    pub fn set_partition(&mut self, groups: Option<Vec<u8>>) {
        self.groups = groups;
    }

    /// True while a partition lasts.
    pub fn partitioned(&self) -> bool {
        self.groups.is_some()
    }

    /// One-way latency from `a` to `b` now.
    pub fn latency(&self, a: usize, b: usize, rng: &mut ChaCha20Rng) -> Duration {
        Duration::from_millis(self.base[a][b] + rng.gen_range(0..=self.jitter_ms))
    }

    /// Records a new open connection; returns its number.
    pub fn open(&mut self, dialer: End, acceptor: End, now: Time) -> usize {
        let n = self.conns.len();
        self.conns.push(Conn {
            ends: [dialer, acceptor],
            open: true,
            last: [now, now],
            compact: Default::default(),
        });
        self.by_end.insert((dialer.host, dialer.peer), n);
        self.by_end.insert((acceptor.host, acceptor.peer), n);
        n
    }

    /// The open connection of `host`'s peer `peer`, and which end `host` is.
    pub fn find(&self, host: usize, peer: PeerId) -> Option<(usize, usize)> {
        let n = *self.by_end.get(&(host, peer))?;
        let c = &self.conns[n];
        let side = usize::from(c.ends[1].host == host && c.ends[1].peer == peer);
        c.open.then_some((n, side))
    }

    /// When a message sent now from end `from` of connection `n` arrives.
    pub fn arrival(&mut self, n: usize, from: usize, now: Time, rng: &mut ChaCha20Rng) -> Time {
        let (a, b) = (
            self.conns[n].ends[from].host,
            self.conns[n].ends[1 - from].host,
        );
        let at = now + self.latency(a, b, rng);
        let to = 1 - from;
        let at = at.max(self.conns[n].last[to]);
        self.conns[n].last[to] = at;
        at
    }

    /// Closes connection `n`; false if it was closed already.
    pub fn close(&mut self, n: usize) -> bool {
        let c = &mut self.conns[n];
        if !c.open {
            return false;
        }
        c.open = false;
        for e in c.ends {
            self.by_end.remove(&(e.host, e.peer));
        }
        true
    }

    /// Open connections with an end on `host`.
    pub fn conns_of(&self, host: usize) -> Vec<usize> {
        self.by_end
            .iter()
            .filter(|((h, _), _)| *h == host)
            .map(|(_, n)| *n)
            .collect()
    }

    /// `host`'s ids for its open connections.
    pub fn peers_of(&self, host: usize) -> Vec<PeerId> {
        self.by_end
            .keys()
            .filter(|(h, _)| *h == host)
            .map(|(_, peer)| *peer)
            .collect()
    }

    /// Open connections whose ends cannot reach each other (after a partition starts).
    pub fn cut(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.open && !self.reachable(c.ends[0].host, c.ends[1].host))
            .map(|(n, _)| n)
            .collect();
        out.dedup();
        out
    }
}
