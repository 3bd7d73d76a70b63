//! Which inbound peer gives way when the inbound slots are full and a new peer arrives, after
//! Bitcoin Core's `SelectNodeToEvict`: peers that are hard for one attacker to imitate are
//! protected (a few from distinct network groups, the lowest pings, the last to bring us a new
//! block or an accepted transfer, and the longest connected), and among the rest the youngest
//! peer of the network group with the most connections goes. A set of peers that only hold
//! slots therefore cannot keep an honest newcomer out: the newcomer takes the slot of one of
//! them. Outbound peers (chosen by us) are never evicted.

use std::net::IpAddr;
use std::time::Duration;

use super::Time;
use crate::p2p::PeerId;

/// Peers protected for coming from distinct network groups (one each, groups ranked by a
/// keyed hash the attacker cannot predict).
pub const PROTECT_BY_GROUP: usize = 4;
/// Peers protected for the lowest ping.
pub const PROTECT_BY_PING: usize = 8;
/// Peers protected for the most recent transfer we accepted from them.
pub const PROTECT_BY_TX: usize = 4;
/// Peers protected for the most recent new block they delivered.
pub const PROTECT_BY_BLOCK: usize = 4;

/// A network group: an IPv4 /16 or an IPv6 /32 (an IPv4-mapped address is its IPv4 one). One
/// operator rarely controls addresses in many groups, so connections are counted by group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetGroup([u8; 5]);

impl NetGroup {
    /// The group's bytes: a family tag, then the prefix.
    pub fn bytes(&self) -> [u8; 5] {
        self.0
    }

    /// The group of `ip`.
    pub fn of(ip: IpAddr) -> NetGroup {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                NetGroup([4, o[0], o[1], 0, 0])
            }
            IpAddr::V6(v6) => {
                let o = v6.octets();
                NetGroup([6, o[0], o[1], o[2], o[3]])
            }
        }
    }

    /// The group's rank under `key` (this node's secret): which groups are protected, which
    /// gives way first among equally crowded ones.
    pub fn rank(&self, key: &[u8; 32]) -> [u8; 32] {
        *blake3::keyed_hash(key, &self.0).as_bytes()
    }
}

/// What eviction weighs of one inbound peer.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The connection.
    pub id: PeerId,
    /// Its network group.
    pub group: NetGroup,
    /// Its last ping round trip (none yet: the worst).
    pub rtt: Option<Duration>,
    /// When it last delivered a block we did not have.
    pub last_block: Option<Time>,
    /// When we last accepted a transfer it sent.
    pub last_tx: Option<Time>,
    /// When it connected (with the id, which grows, to order peers of one second).
    pub since: Time,
}

impl Candidate {
    /// Older first.
    fn age_key(&self) -> (Time, PeerId) {
        (self.since, self.id)
    }
}

/// Removes up to `n` candidates, the greatest by `key` first.
fn protect<K: Ord>(c: &mut Vec<Candidate>, n: usize, key: impl Fn(&Candidate) -> K) {
    c.sort_by_key(|x| (std::cmp::Reverse(key(x)), x.id));
    c.drain(..n.min(c.len()));
}

/// Removes up to `n` candidates with the lowest `rtt`, among those that have one.
fn protect_measured(
    c: &mut Vec<Candidate>,
    n: usize,
    rtt: impl Fn(&Candidate) -> Option<Duration>,
) {
    let mut fast: Vec<(Duration, PeerId)> =
        c.iter().filter_map(|x| rtt(x).map(|r| (r, x.id))).collect();
    fast.sort_unstable();
    let keep: Vec<PeerId> = fast.into_iter().take(n).map(|(_, id)| id).collect();
    c.retain(|x| !keep.contains(&x.id));
}

/// Removes up to `n` candidates that have a `when`, the latest first (a peer that never did
/// the useful thing is not protected for it).
fn protect_latest(c: &mut Vec<Candidate>, n: usize, when: impl Fn(&Candidate) -> Option<Time>) {
    let mut did: Vec<(Time, PeerId)> = c
        .iter()
        .filter_map(|x| when(x).map(|t| (t, x.id)))
        .collect();
    did.sort_unstable_by_key(|k| std::cmp::Reverse(*k));
    let keep: Vec<PeerId> = did.into_iter().take(n).map(|(_, id)| id).collect();
    c.retain(|x| !keep.contains(&x.id));
}

/// The inbound peer to evict, if one is not protected. `key` ranks network groups.
pub fn select(mut c: Vec<Candidate>, key: &[u8; 32]) -> Option<PeerId> {
    // One peer (the oldest) from each of the groups ranked highest.
    let mut groups: Vec<(NetGroup, [u8; 32])> =
        c.iter().map(|x| (x.group, x.group.rank(key))).collect();
    groups.sort_by_key(|(g, r)| (std::cmp::Reverse(*r), *g));
    groups.dedup_by_key(|(g, _)| *g);
    for (g, _) in groups.into_iter().take(PROTECT_BY_GROUP) {
        let oldest = c
            .iter()
            .enumerate()
            .filter(|(_, x)| x.group == g)
            .min_by_key(|(_, x)| x.age_key())
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            c.remove(i);
        }
    }
    // Lowest measured pings (a peer not yet measured is not protected for it); then the
    // latest useful ones.
    protect_measured(&mut c, PROTECT_BY_PING, |x| x.rtt);
    protect_latest(&mut c, PROTECT_BY_TX, |x| x.last_tx);
    protect_latest(&mut c, PROTECT_BY_BLOCK, |x| x.last_block);
    // Half of the rest, the longest connected.
    let half = c.len() / 2;
    protect(&mut c, half, |x| std::cmp::Reverse(x.age_key()));
    // The group with the most peers (ties: the one with the youngest peer) gives its youngest.
    let mut by_group: std::collections::BTreeMap<NetGroup, Vec<&Candidate>> = Default::default();
    for x in &c {
        by_group.entry(x.group).or_default().push(x);
    }
    by_group
        .values()
        .max_by_key(|peers| {
            let youngest = peers.iter().map(|x| x.age_key()).max();
            (peers.len(), youngest)
        })
        .and_then(|peers| peers.iter().max_by_key(|x| x.age_key()))
        .map(|x| x.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn cand(id: PeerId, ip: [u8; 4], since: u64) -> Candidate {
        Candidate {
            id,
            group: NetGroup::of(IpAddr::from(ip)),
            rtt: Some(Duration::from_millis(50)),
            last_block: None,
            last_tx: None,
            since: Time::from_secs(since),
        }
    }

    #[test]
    fn groups_are_ipv4_16_and_ipv6_32() {
        let g = |s: &str| NetGroup::of(s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(g("10.1.2.3"), g("10.1.200.9"));
        assert_ne!(g("10.1.2.3"), g("10.2.2.3"));
        assert_eq!(g("::ffff:10.1.2.3"), g("10.1.9.9"));
        assert_eq!(g("2001:db8::1"), g("2001:db8:ffff::2"));
        assert_ne!(g("2001:db8::1"), g("2001:db9::1"));
    }

    #[test]
    fn the_youngest_of_the_most_crowded_group_goes() {
        // 30 peers from one /16 (an attacker's), 4 honest ones from groups of their own.
        let mut c: Vec<Candidate> = (0..30)
            .map(|i| cand(i, [66, 6, 0, i as u8], 100 + i))
            .collect();
        for (i, ip) in [[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3], [4, 4, 4, 4]]
            .iter()
            .enumerate()
        {
            c.push(cand(100 + i as u64, *ip, 50));
        }
        let victim = select(c, &KEY);
        assert_eq!(victim, Some(29), "the attacker's youngest");
    }

    #[test]
    fn useful_and_fast_peers_are_protected_and_nobody_goes_when_all_are() {
        // Sixteen peers of one group: protections take them all but a few.
        let mut c: Vec<Candidate> = (0..16)
            .map(|i| cand(i, [66, 6, 0, i as u8], 100 + i))
            .collect();
        // The youngest brought us a block just now: it stays.
        c[15].last_block = Some(Time::from_secs(500));
        // The next youngest has the best ping: it stays too.
        c[14].rtt = Some(Duration::from_millis(1));
        let victim = select(c.clone(), &KEY);
        assert!(victim.is_some());
        assert!(!matches!(victim, Some(15) | Some(14)), "{victim:?}");
        // Few enough peers and every one is protected.
        let few: Vec<Candidate> = c.into_iter().take(3).collect();
        assert_eq!(select(few, &KEY), None);
    }
}
