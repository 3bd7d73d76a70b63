//! The address book: addresses of nodes to dial, with their reconnect backoff, and the bans.
//!
//! Both are persisted in the store's `peers` column family (docs/storage.md) so that a restart
//! neither forgets the network nor forgives a banned peer.
//!
//! A ban covers the peer's address and its node id (the transport's static key), each on its own:
//! the same key from another address is refused after its handshake, and any key from the banned
//! address before one. The address is the IP, except on loopback, where several local nodes share
//! one IP: there it is IP and listen port, so that banning a misbehaving local process does not
//! cut the honest nodes of a local testnet off from each other.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;

use super::bans::BanTable;
use super::fsm::Time;
use super::identity::NodeId;

use crate::store::{PeerRecord, PeerUpdate};

/// Most addresses remembered: plenty for a small network, and a bound against `Addr` floods.
pub const MAX_ADDRESSES: usize = 2048;
/// First reconnect delay after a failed or dropped connection.
pub const RECONNECT_MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest reconnect delay: a healed partition reconnects within this.
pub const RECONNECT_MAX_BACKOFF: Duration = Duration::from_secs(16);
/// Learned addresses that failed this many times in a row are forgotten.
pub const MAX_FAILURES: u32 = 10;

const ADDR_PREFIX: &[u8] = b"addr:";
const BAN_PREFIX: &[u8] = b"ban:";
/// After [`BAN_PREFIX`]: the rest of the key is a node id in hex.
const NODE_BAN_PREFIX: &[u8] = b"node:";

/// A banned address: an IP, or an IP and port on loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrKey {
    ip: IpAddr,
    port: Option<u16>,
}

/// Whom a peer's misbehaviour bans: its address and the node id its handshake proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BanKey {
    /// The address part.
    pub addr: AddrKey,
    /// The identity part.
    pub node: NodeId,
}

impl BanKey {
    /// The key for the node `node` at `ip` that listens on (or connected from) `port`.
    pub fn new(ip: IpAddr, port: u16, node: NodeId) -> Self {
        BanKey {
            addr: AddrKey::new(ip, port),
            node,
        }
    }

    /// True when banning `self` also covers `other` (they share the address or the identity).
    pub fn overlaps(&self, other: &BanKey) -> bool {
        self.addr == other.addr || self.node == other.node
    }
}

impl std::fmt::Display for BanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} node {}", self.addr, self.node)
    }
}

impl AddrKey {
    /// The key for a peer at `ip` that listens on (or connected from) `port`.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        let ip = ip.to_canonical();
        let port = ip.is_loopback().then_some(port);
        AddrKey { ip, port }
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut k = BAN_PREFIX.to_vec();
        match self.port {
            Some(p) => k.extend_from_slice(SocketAddr::new(self.ip, p).to_string().as_bytes()),
            None => k.extend_from_slice(self.ip.to_string().as_bytes()),
        }
        k
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(b).ok()?;
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Some(AddrKey::new(sa.ip(), sa.port()));
        }
        // Written before keys were canonical, an IPv4-mapped address is its IPv4 one; a
        // loopback IP without its port matches no key, so it is dropped.
        let ip = s.parse::<IpAddr>().ok()?.to_canonical();
        (!ip.is_loopback()).then_some(AddrKey { ip, port: None })
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}", SocketAddr::new(self.ip, p)),
            None => write!(f, "{}", self.ip),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// Given by the operator (`--peer`, bootnodes): never forgotten.
    configured: bool,
    /// The node id the operator pinned for this address (`--peer id@host:port`).
    pin: Option<NodeId>,
    /// The node id last met at this address (not persisted).
    met: Option<NodeId>,
    failures: u32,
    next_try: Time,
    last_seen: u64,
}

/// Addresses and bans.
#[derive(Default)]
pub struct AddrBook {
    entries: HashMap<SocketAddr, Entry>,
    bans: BanTable<AddrKey>,
    node_bans: BanTable<NodeId>,
    /// Addresses added, changed or forgotten since the last save.
    changed: HashSet<SocketAddr>,
    /// Records read at load that are to go: ended bans, unreadable keys.
    stale: Vec<Vec<u8>>,
}

impl AddrBook {
    /// Rebuilds the book from the store's records; unreadable and ended ones are deleted at the
    /// first save.
    pub fn from_records(records: &[PeerRecord], now: Time) -> Self {
        let mut book = AddrBook::default();
        for (k, v) in records {
            let value = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            let kept = match (
                k.strip_prefix(ADDR_PREFIX),
                k.strip_prefix(BAN_PREFIX),
                value,
            ) {
                (Some(rest), _, Some(last_seen)) => book.load_addr(rest, last_seen, now),
                (_, Some(rest), Some(until)) if until > now.secs() => book.load_ban(rest, until),
                _ => false,
            };
            if !kept {
                book.stale.push(k.clone());
            }
        }
        book
    }

    fn load_addr(&mut self, rest: &[u8], last_seen: u64, now: Time) -> bool {
        let parsed = std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse::<SocketAddr>().ok());
        let Some(written) = parsed else {
            return false;
        };
        let addr = canonical(&written);
        if addr != written {
            // Kept under its canonical form from now on: the old record goes, the new one is
            // written at the next save.
            self.changed.insert(addr);
            let mut old = ADDR_PREFIX.to_vec();
            old.extend_from_slice(rest);
            self.stale.push(old);
        }
        self.entries.insert(
            addr,
            Entry {
                configured: false,
                pin: None,
                met: None,
                failures: 0,
                next_try: now,
                last_seen,
            },
        );
        true
    }

    fn load_ban(&mut self, rest: &[u8], until: u64) -> bool {
        if let Some(hex) = rest.strip_prefix(NODE_BAN_PREFIX) {
            match std::str::from_utf8(hex).ok().and_then(|h| h.parse().ok()) {
                Some(id) => self.node_bans.load(id, until),
                None => return false,
            }
        } else {
            match AddrKey::from_bytes(rest) {
                Some(key) => self.bans.load(key, until),
                None => return false,
            }
        }
        true
    }

    /// The records that changed since the last call (`None` values delete), in key order;
    /// `None` when nothing changed. A save costs what changed, not the size of the book.
    pub fn take_records(&mut self) -> Option<Vec<PeerUpdate>> {
        if self.changed.is_empty()
            && self.stale.is_empty()
            && !self.bans.has_changes()
            && !self.node_bans.has_changes()
        {
            return None;
        }
        let mut out: Vec<PeerUpdate> = self.stale.drain(..).map(|k| (k, None)).collect();
        for a in std::mem::take(&mut self.changed) {
            let mut k = ADDR_PREFIX.to_vec();
            k.extend_from_slice(a.to_string().as_bytes());
            let v = self
                .entries
                .get(&a)
                .map(|e| e.last_seen.to_le_bytes().to_vec());
            out.push((k, v));
        }
        for (key, until) in self.bans.take_changed() {
            out.push((key.to_bytes(), until.map(|u| u.to_le_bytes().to_vec())));
        }
        for (id, until) in self.node_bans.take_changed() {
            let mut k = [BAN_PREFIX, NODE_BAN_PREFIX].concat();
            k.extend_from_slice(id.to_string().as_bytes());
            out.push((k, until.map(|u| u.to_le_bytes().to_vec())));
        }
        out.sort();
        Some(out)
    }

    /// Adds an operator-given address (always kept, dialled first), with the node id pinned for
    /// it, if any (a later pin replaces an earlier one; `None` keeps it).
    pub fn add_configured(&mut self, addr: SocketAddr, pin: Option<NodeId>, now: Time) {
        let e = self.entries.entry(canonical(&addr)).or_insert(Entry {
            configured: true,
            pin: None,
            met: None,
            failures: 0,
            next_try: now,
            last_seen: 0,
        });
        e.configured = true;
        e.pin = pin.or(e.pin);
        self.changed.insert(canonical(&addr));
    }

    /// Notes that the node `id` answered at `addr`.
    pub fn met(&mut self, addr: &SocketAddr, id: NodeId) {
        if let Some(e) = self.entries.get_mut(&canonical(addr)) {
            e.met = Some(id);
        }
    }

    /// The node expected at `addr`: its pin, else the node last met there.
    pub fn node_at(&self, addr: &SocketAddr) -> Option<NodeId> {
        self.entries
            .get(&canonical(addr))
            .and_then(|e| e.pin.or(e.met))
    }

    /// The node id pinned for `addr`, if any.
    pub fn pin_of(&self, addr: &SocketAddr) -> Option<NodeId> {
        self.entries.get(&canonical(addr)).and_then(|e| e.pin)
    }

    /// Adds a learned address if there is room. Returns true if it was new.
    pub fn add_learned(&mut self, addr: SocketAddr, now: Time) -> bool {
        let addr = canonical(&addr);
        if addr.port() == 0 || addr.ip().is_unspecified() || self.entries.contains_key(&addr) {
            return false;
        }
        if self.entries.len() >= MAX_ADDRESSES {
            return false;
        }
        self.entries.insert(
            addr,
            Entry {
                configured: false,
                pin: None,
                met: None,
                failures: 0,
                next_try: now,
                last_seen: now.secs(),
            },
        );
        self.changed.insert(addr);
        true
    }

    /// Forgets an address (it turned out to be ourselves).
    pub fn remove(&mut self, addr: &SocketAddr) {
        if self.entries.remove(addr).is_some() {
            self.changed.insert(*addr);
        }
    }

    /// A connection to `addr` worked: reset its backoff.
    pub fn connected(&mut self, addr: &SocketAddr, now: Time) {
        if let Some(e) = self.entries.get_mut(addr) {
            e.failures = 0;
            e.last_seen = now.secs();
            self.changed.insert(*addr);
        }
    }

    /// A dial to `addr` failed or the connection ended: back off (exponentially, capped).
    pub fn failed(&mut self, addr: &SocketAddr, now: Time) {
        let Some(e) = self.entries.get_mut(addr) else {
            return;
        };
        e.failures = e.failures.saturating_add(1);
        let shift = e.failures.saturating_sub(1).min(16);
        let delay = RECONNECT_MIN_BACKOFF
            .saturating_mul(1u32 << shift)
            .min(RECONNECT_MAX_BACKOFF);
        e.next_try = now + delay;
        if !e.configured && e.failures >= MAX_FAILURES {
            self.entries.remove(addr);
            self.changed.insert(*addr);
        }
    }

    /// Addresses to dial now: configured ones first, then learned ones in random order.
    pub fn candidates(
        &self,
        now: Time,
        rng: &mut impl Rng,
        skip: impl Fn(&SocketAddr) -> bool,
    ) -> Vec<SocketAddr> {
        let mut configured = Vec::new();
        let mut learned = Vec::new();
        for (a, e) in &self.entries {
            if e.next_try > now || skip(a) || self.banned_addr(a, now.secs()) {
                continue;
            }
            if e.configured {
                configured.push(*a);
            } else {
                learned.push(*a);
            }
        }
        // Sorted first, so that the order depends on the seed alone, not on the map's.
        learned.sort_unstable();
        configured.sort_unstable();
        learned.shuffle(rng);
        configured.extend(learned);
        configured
    }

    /// The operator-given addresses.
    pub fn configured(&self) -> HashSet<SocketAddr> {
        self.entries
            .iter()
            .filter(|(_, e)| e.configured)
            .map(|(a, _)| *a)
            .collect()
    }

    /// Up to `max` addresses to share with a peer (most recently seen first).
    pub fn sample(&self, max: usize) -> Vec<SocketAddr> {
        let mut all: Vec<(&SocketAddr, &Entry)> = self.entries.iter().collect();
        all.sort_by_key(|(a, e)| (std::cmp::Reverse(e.last_seen), **a));
        all.into_iter().take(max).map(|(a, _)| *a).collect()
    }

    /// Bans `key`'s address and its node id until unix time `until` (at the bound, the bans
    /// that end first make room).
    pub fn ban(&mut self, key: BanKey, until: u64) {
        self.bans.ban(key.addr, until);
        self.node_bans.ban(key.node, until);
    }

    /// Bans only the address `key` until unix time `until` (its node id is not known).
    pub fn ban_addr(&mut self, key: AddrKey, until: u64) {
        self.bans.ban(key, until);
    }

    /// Address bans and node-id bans held.
    pub fn ban_count(&self) -> (usize, usize) {
        (self.bans.len(), self.node_bans.len())
    }

    /// Addresses known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no address is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every address ban with its end (Unix seconds), in key order.
    pub fn addr_bans(&self) -> impl Iterator<Item = (AddrKey, u64)> + '_ {
        self.bans.all().into_iter()
    }

    /// True when `key`'s address or its node id is banned at unix time `now`.
    pub fn is_banned(&self, key: &BanKey, now: u64) -> bool {
        self.is_addr_banned(&key.addr, now) || self.node_bans.is_banned(&key.node, now)
    }

    /// True when the address `key` is banned at unix time `now`.
    pub fn is_addr_banned(&self, key: &AddrKey, now: u64) -> bool {
        self.bans.is_banned(key, now)
    }

    fn banned_addr(&self, a: &SocketAddr, now: u64) -> bool {
        self.is_addr_banned(&AddrKey::new(a.ip(), a.port()), now)
    }

    /// Drops bans that ran out.
    pub fn expire_bans(&mut self, now: u64) {
        self.bans.expire(now);
        self.node_bans.expire(now);
    }
}

/// The form an address is kept under: its IP in canonical form (no IPv4-mapped IPv6) and port.
fn canonical(addr: &SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const T0: Time = Time(1_000_000);

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(7)
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    fn node(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    #[test]
    fn bans_and_addresses_survive_a_round_trip_through_records() {
        let mut book = AddrBook::default();
        book.add_learned(sa("10.0.0.1:9733"), Time::from_secs(100));
        book.add_configured(sa("10.0.0.2:9733"), Some(node(2)), T0);
        book.ban(BanKey::new(sa("10.0.0.9:1").ip(), 1, node(9)), 5_000);
        book.ban(BanKey::new(sa("127.0.0.1:7").ip(), 7, node(7)), 5_000);
        book.ban(BanKey::new(sa("10.0.0.8:1").ip(), 1, node(8)), 50);
        let recs: Vec<(Vec<u8>, Vec<u8>)> = book
            .take_records()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        // The record keys are a stored format: pinned.
        let keys: Vec<String> = recs
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        let n = |b: u8| hex::encode([b; 32]);
        assert_eq!(
            keys,
            [
                "addr:10.0.0.1:9733".to_string(),
                "addr:10.0.0.2:9733".into(),
                "ban:10.0.0.8".into(),
                "ban:10.0.0.9".into(),
                "ban:127.0.0.1:7".into(),
                format!("ban:node:{}", n(7)),
                format!("ban:node:{}", n(8)),
                format!("ban:node:{}", n(9)),
            ]
        );
        assert_eq!(recs[3].1, 5_000u64.to_le_bytes());
        let back = AddrBook::from_records(&recs, Time::from_secs(1_000));
        // A non-loopback ban covers every port of that IP, whatever the key.
        assert!(back.is_banned(&BanKey::new(sa("10.0.0.9:1").ip(), 4444, node(1)), 1_000));
        // A loopback ban covers only that port.
        assert!(back.is_banned(&BanKey::new(sa("127.0.0.1:7").ip(), 7, node(1)), 1_000));
        assert!(!back.is_banned(&BanKey::new(sa("127.0.0.1:7").ip(), 8, node(1)), 1_000));
        // The node id is banned on its own: the same key from another address.
        assert!(back.is_banned(&BanKey::new(sa("10.0.0.50:1").ip(), 1, node(9)), 1_000));
        assert!(!back.is_banned(&BanKey::new(sa("10.0.0.50:1").ip(), 1, node(1)), 1_000));
        // Expired bans are dropped at load, address and id alike.
        assert!(!back.is_banned(&BanKey::new(sa("10.0.0.8:1").ip(), 1, node(8)), 1_000));
        assert_eq!(back.entries.len(), 2);
        assert!(book.take_records().is_none(), "nothing changed since");
    }

    #[test]
    fn a_save_writes_what_changed_and_deletes_what_ended() {
        let mut book = AddrBook::default();
        for i in 0..100u8 {
            book.add_learned(sa(&format!("10.0.1.{i}:9733")), T0);
            book.ban(
                BanKey::new(sa(&format!("10.0.2.{i}:1")).ip(), 1, node(i)),
                5_000,
            );
        }
        let recs: Vec<PeerRecord> = book
            .take_records()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        assert_eq!(recs.len(), 300);
        // Reloaded after the bans ended, with a record nobody can read: both are deleted at
        // the first save, and nothing else is written.
        let mut unreadable = recs.clone();
        unreadable.push((b"addr:not an address".to_vec(), 7u64.to_le_bytes().to_vec()));
        let mut back = AddrBook::from_records(&unreadable, Time::from_secs(6_000));
        assert_eq!(back.ban_count(), (0, 0));
        let first = back.take_records().unwrap_or_default();
        assert_eq!(first.len(), 201);
        assert!(first.iter().all(|(_, v)| v.is_none()));
        // One more ban writes its two records, not the book.
        back.ban(BanKey::new(sa("10.0.3.1:1").ip(), 1, node(200)), 9_000);
        let keys: Vec<String> = back
            .take_records()
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            keys,
            [
                "ban:10.0.3.1".to_string(),
                format!("ban:node:{}", hex::encode([200; 32]))
            ]
        );
    }

    #[test]
    fn a_pin_is_kept_under_the_canonical_address() {
        let mut book = AddrBook::default();
        book.add_configured(sa("[::ffff:10.0.0.2]:9733"), Some(node(2)), T0);
        assert_eq!(book.pin_of(&sa("10.0.0.2:9733")), Some(node(2)));
        assert_eq!(book.pin_of(&sa("[::ffff:10.0.0.2]:9733")), Some(node(2)));
        assert_eq!(book.pin_of(&sa("10.0.0.2:9734")), None);
        // Resolving again without a pin keeps the one given; a new pin replaces it.
        book.add_configured(sa("10.0.0.2:9733"), None, T0);
        assert_eq!(book.pin_of(&sa("10.0.0.2:9733")), Some(node(2)));
        book.add_configured(sa("10.0.0.2:9733"), Some(node(3)), T0);
        assert_eq!(book.pin_of(&sa("10.0.0.2:9733")), Some(node(3)));
        // A learned mapped address is the same entry, not a second one that dodges the pin.
        assert!(!book.add_learned(sa("[::ffff:10.0.0.2]:9733"), T0));
        assert_eq!(book.len(), 1);
        // A ban on a mapped address is a ban on the IPv4 one.
        book.ban_addr(AddrKey::new(sa("[::ffff:10.0.0.9]:1").ip(), 1), 5_000);
        assert!(book.is_addr_banned(&AddrKey::new(sa("10.0.0.9:2").ip(), 2), 1_000));
    }

    #[test]
    fn failures_back_off_and_learned_addresses_are_eventually_forgotten() {
        let mut book = AddrBook::default();
        let a = sa("10.0.0.1:9733");
        let c = sa("10.0.0.2:9733");
        book.add_learned(a, T0);
        book.add_configured(c, None, T0);
        assert_eq!(book.candidates(T0, &mut rng(), |_| false).first(), Some(&c));
        book.failed(&a, T0);
        book.failed(&c, T0);
        assert!(book.candidates(T0, &mut rng(), |_| false).is_empty());
        // The first retry comes after the minimum backoff, not before.
        let first = T0 + RECONNECT_MIN_BACKOFF;
        assert!(book
            .candidates(Time(first.0 - 1), &mut rng(), |_| false)
            .is_empty());
        assert_eq!(book.candidates(first, &mut rng(), |_| false).len(), 2);
        for _ in 0..MAX_FAILURES {
            book.failed(&a, T0);
            book.failed(&c, T0);
        }
        let left = book.candidates(T0 + RECONNECT_MAX_BACKOFF * 2, &mut rng(), |_| false);
        assert_eq!(left, vec![c], "configured peers are never forgotten");
    }

    #[test]
    fn learned_addresses_are_bounded() {
        let mut book = AddrBook::default();
        for i in 0..(MAX_ADDRESSES + 10) {
            book.add_learned(
                SocketAddr::new([10, 1, (i / 256) as u8, i as u8].into(), 1),
                T0,
            );
        }
        assert_eq!(book.entries.len(), MAX_ADDRESSES);
        assert!(!book.add_learned(sa("0.0.0.0:1"), T0));
    }
}
