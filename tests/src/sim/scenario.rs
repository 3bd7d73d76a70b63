//! What a simulation runs: the CI scenario, the long one of `scripts/simulate`, and the attack
//! runs, each a value of [`Scenario`].

use std::time::Duration;

use super::Role;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The seed of everything.
    pub seed: u64,
    /// Nodes, misbehaving ones included.
    pub nodes: usize,
    /// How many of the honest nodes mine.
    pub miners: usize,
    /// Length of the active phase.
    pub active: Duration,
    /// Mean time between blocks of one miner.
    pub block_interval: Duration,
    /// Mean time between transfers (sent to a random live node).
    pub tx_interval: Duration,
    /// Partition episodes during the active phase.
    pub partitions: u32,
    /// Crash-and-restart episodes during the active phase.
    pub crashes: u32,
    /// Nodes that start only halfway through the active phase.
    pub late_joiners: usize,
    /// Largest clock skew of a node, seconds either way.
    pub max_skew_secs: i64,
    /// Chance that delivering a message breaks its connection instead.
    pub drop_rate: f64,
    /// One-way latency range of a link, milliseconds.
    pub latency_ms: (u64, u64),
    /// Misbehaving nodes (the last ones).
    pub evil: Vec<Role>,
    /// Longest the settling phase may take to converge.
    pub settle_limit: Duration,
    /// Nodes relay new blocks as compact blocks (false: whole blocks only).
    pub compact_relay: bool,
    /// A flooder's period between floods of a thousand transfer ids to each peer.
    pub flood_interval: Duration,
    /// When set, every transfer accepted at least this long before the end of the active
    /// phase must be held, pending or mined, by every live honest node at the end (for runs
    /// without crashes or partitions, where nothing excuses a transfer that did not spread).
    pub spread_within: Option<Duration>,
}

impl Scenario {
    /// The CI scenario: 8 nodes, 2 miners, a partition, a crash, a late joiner, skewed clocks,
    /// lossy links and one misbehaving peer chosen by the seed.
    pub fn ci(seed: u64) -> Scenario {
        let evil = match seed % 4 {
            0 => vec![],
            1 => vec![Role::Staller],
            2 => vec![Role::Flooder],
            _ => vec![Role::Forger],
        };
        Scenario {
            seed,
            nodes: 8,
            miners: 2,
            active: Duration::from_secs(180),
            block_interval: Duration::from_secs(20),
            tx_interval: Duration::from_secs(4),
            partitions: 1,
            crashes: 1,
            late_joiners: 1,
            max_skew_secs: 20,
            drop_rate: 0.002,
            latency_ms: (5, 120),
            evil,
            settle_limit: Duration::from_secs(180),
            // Seeds 4k..4k+3 with k even relay compact blocks, the others whole blocks only:
            // each relay meets every kind of misbehaving peer (chosen by `seed % 4`).
            compact_relay: (seed / 4) % 2 == 0,
            flood_interval: Duration::from_secs(5),
            spread_within: None,
        }
    }

    /// Attackers beside five honest nodes, one of which mines: no partitions, crashes or
    /// lossy links, so that what the honest nodes go through is the attack alone. With one miner
    /// no two honest blocks compete, so a settling phase that needs a tie-break means the
    /// attack split the network.
    pub fn attack(seed: u64, attacker: Role) -> Scenario {
        // The flood of the attack table: twelve peers, a thousand fresh ids each per second
        // to every peer (enough to fill the old caps); other attacks come from one node.
        let attackers = match attacker {
            // Enough to hold every inbound slot of the honest nodes (16 each).
            Role::Flooder => 12,
            Role::Squatter => 24,
            _ => 1,
        };
        // Against squatters, a node joins halfway through and must get in.
        let late_joiners = usize::from(attacker == Role::Squatter);
        Scenario {
            seed,
            nodes: 5 + late_joiners + attackers,
            miners: 1,
            active: Duration::from_secs(120),
            block_interval: Duration::from_secs(15),
            tx_interval: Duration::from_secs(4),
            partitions: 0,
            crashes: 0,
            late_joiners,
            max_skew_secs: 5,
            drop_rate: 0.0,
            latency_ms: (5, 80),
            evil: vec![attacker; attackers],
            settle_limit: Duration::from_secs(120),
            compact_relay: seed % 2 == 0,
            flood_interval: Duration::from_secs(1),
            spread_within: Some(Duration::from_secs(10)),
        }
    }

    /// The long scenario of `scripts/simulate`.
    pub fn long(seed: u64, nodes: usize, minutes: u64) -> Scenario {
        Scenario {
            seed,
            nodes,
            miners: (nodes / 10).max(2),
            active: Duration::from_secs(minutes * 60),
            block_interval: Duration::from_secs(10 * ((nodes / 10).max(2) as u64)),
            tx_interval: Duration::from_secs(2),
            partitions: (minutes / 10).max(1) as u32,
            crashes: (minutes / 5).max(1) as u32,
            late_joiners: nodes / 10,
            max_skew_secs: 30,
            drop_rate: 0.001,
            latency_ms: (5, 200),
            evil: vec![Role::Staller, Role::Flooder, Role::Forger],
            settle_limit: Duration::from_secs(600),
            compact_relay: true,
            flood_interval: Duration::from_secs(5),
            spread_within: None,
        }
    }
}
