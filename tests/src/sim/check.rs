//! The simulator's invariants and its report. Checked during the run (memory bounds) and at
//! the end: every live honest node at one tip and state digest, no accepted transfer lost
//! without a reason the run can name, no honest node banned.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ferrite_core::Hash;
use ferrite_node::chain::MISSING_LISTED;
use ferrite_node::p2p::bans::MAX_BANS;
use ferrite_node::p2p::fsm::{MAX_TX_IN_FLIGHT_PER_PEER, MAX_TX_WANTED};

use super::host::Role;
use super::Sim;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Live honest nodes did not reach one tip within the bound.
    NoConvergence(Vec<String>),
    /// An accepted transfer is neither mined nor pending anywhere.
    LostTransfer(Hash),
    /// An honest node was banned by another.
    HonestBanned {
        /// The node that banned.
        by: usize,
        /// The key it banned.
        key: String,
    },
    /// A machine held more than its bounds allow, or its bookkeeping disagreed with itself.
    Unbounded(String),
    /// A transfer accepted well before the end did not reach these live honest nodes.
    NotSpread(Hash, Vec<usize>),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NoConvergence(tips) => write!(f, "no convergence: {}", tips.join(", ")),
            Violation::LostTransfer(id) => write!(f, "accepted transfer {id} was lost"),
            Violation::HonestBanned { by, key } => write!(f, "node {by} banned honest {key}"),
            Violation::Unbounded(what) => write!(f, "unbounded: {what}"),
            Violation::NotSpread(id, lacking) => {
                write!(f, "transfer {id} never reached nodes {lacking:?}")
            }
        }
    }
}

/// What a run did and found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Simulated time.
    pub simulated: Duration,
    /// Wall time.
    pub wall: Duration,
    /// The trace hash: two runs of one seed must agree.
    pub trace: [u8; 32],
    /// Blocks the miners found.
    pub blocks_mined: u64,
    /// Tip changes that took blocks off, over all nodes.
    pub reorgs: u64,
    /// The deepest of them.
    pub deepest_reorg: usize,
    /// Partition episodes.
    pub partitions: u32,
    /// Blocks mined while settling to break ties.
    pub tie_breaks: u32,
    /// Crashes.
    pub crashes: u32,
    /// Time from each heal until all live honest nodes shared a tip (heals followed by more
    /// forks before they agreed are not listed).
    pub heal_convergence: Vec<Duration>,
    /// Time from the end of the active phase to the final agreement, with its tip.
    pub final_convergence: Option<(Hash, u64)>,
    /// When that was, from the end of the active phase.
    pub settle_time: Duration,
    /// Bans: who banned, and whom.
    pub bans: Vec<(usize, String)>,
    /// Messages and bytes sent per node.
    pub sent: BTreeMap<usize, (u64, u64)>,
    /// Nodes that have joined.
    pub joined: Vec<usize>,
    /// Transfers accepted, mined, pending, excused.
    pub txs: (usize, usize, usize, usize),
    /// The largest footprint seen in any machine.
    pub most_requested: usize,
    /// The most transfers wanted by one machine.
    pub most_txs_wanted: usize,
    /// Blocks delivered: whole, rebuilt from a compact block, and requests for missing
    /// transfers of a compact block.
    pub blocks_delivered: BlockDeliveries,
    /// Headers a withholder announced without ever delivering their bodies.
    pub withheld: u64,
    /// Defences the honest nodes used, by name, over the run.
    pub defences: BTreeMap<&'static str, u64>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
}

/// How blocks reached the machines of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BlockDeliveries {
    /// Whole blocks (answers to `GetBlocks`).
    pub whole: u64,
    /// Compact blocks rebuilt and handed on.
    pub rebuilt: u64,
    /// `GetBlockTxs` requests for the transfers a rebuild lacked.
    pub asked_missing: u64,
}

impl Report {
    pub(super) fn count_sent(&mut self, host: usize, bytes: u64) {
        let e = self.sent.entry(host).or_default();
        e.0 += 1;
        e.1 += bytes;
    }

    /// The trace hash as hex.
    pub fn trace_hex(&self) -> String {
        self.trace.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.simulated.as_secs_f64();
        writeln!(
            f,
            "simulated {:.0} s in {:.2} s wall ({:.0} simulated s per wall s)",
            secs,
            self.wall.as_secs_f64(),
            secs / self.wall.as_secs_f64().max(1e-9)
        )?;
        writeln!(
            f,
            "blocks mined {} ({} to break ties while settling), reorgs {} (deepest {}), \
             partitions {}, crashes {}",
            self.blocks_mined,
            self.tie_breaks,
            self.reorgs,
            self.deepest_reorg,
            self.partitions,
            self.crashes
        )?;
        let heals: Vec<String> = self
            .heal_convergence
            .iter()
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .collect();
        writeln!(f, "convergence after heals: [{}]", heals.join(", "))?;
        match self.final_convergence {
            Some((h, height)) => writeln!(
                f,
                "final tip {h} at height {height}, {:.1} s after the active phase",
                self.settle_time.as_secs_f64()
            )?,
            None => writeln!(f, "final tip: none shared")?,
        }
        let d = self.blocks_delivered;
        writeln!(
            f,
            "blocks delivered whole {}, rebuilt from compact blocks {} ({} asked for missing \
             transfers)",
            d.whole, d.rebuilt, d.asked_missing
        )?;
        if self.withheld > 0 {
            writeln!(
                f,
                "headers announced with bodies withheld {}",
                self.withheld
            )?;
        }
        writeln!(f, "tie-breaks {}", self.tie_breaks)?;
        if !self.defences.is_empty() {
            let list: Vec<String> = self
                .defences
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect();
            writeln!(f, "defences used by honest nodes: {}", list.join(", "))?;
        }
        writeln!(
            f,
            "transfers accepted {}, mined {}, pending {}, excused {}",
            self.txs.0, self.txs.1, self.txs.2, self.txs.3
        )?;
        let honest_bans = self
            .violations
            .iter()
            .filter(|v| matches!(v, Violation::HonestBanned { .. }))
            .count();
        writeln!(
            f,
            "bans {} ({} of honest nodes)",
            self.bans.len(),
            honest_bans
        )?;
        let n = self.sent.len().max(1) as u64;
        let (msgs, bytes) = self
            .sent
            .values()
            .fold((0, 0), |(m, b), (m2, b2)| (m + m2, b + b2));
        writeln!(
            f,
            "per node: {} messages, {} KiB sent on average",
            msgs / n,
            bytes / n / 1024
        )?;
        writeln!(
            f,
            "largest machine state: {} blocks requested, {} transfers wanted",
            self.most_requested, self.most_txs_wanted
        )?;
        writeln!(f, "trace {}", self.trace_hex())?;
        for v in &self.violations {
            writeln!(f, "VIOLATION: {v}")?;
        }
        Ok(())
    }
}

/// Checks made every simulated second: every machine within its bounds, and (every fifth
/// second) its bookkeeping consistent.
pub(super) fn during(sim: &mut Sim) {
    for h in &sim.hosts {
        let Some(live) = h.live() else {
            continue;
        };
        let f = live.machine.footprint();
        sim.report.most_requested = sim.report.most_requested.max(f.blocks_requested);
        sim.report.most_txs_wanted = sim.report.most_txs_wanted.max(f.txs_wanted);
        // Requests and downloads are pruned to the download window whenever the machine
        // schedules; transfer requests are capped per peer and in all.
        let over = f.blocks_requested > MISSING_LISTED
            || f.blocks_downloaded > MISSING_LISTED
            || f.txs_wanted > MAX_TX_WANTED
            || f.most_txs_in_flight_per_peer > MAX_TX_IN_FLIGHT_PER_PEER
            || f.bans.0 > MAX_BANS
            || f.bans.1 > MAX_BANS;
        // The full audit walks every request; every fifth second is often enough to catch a
        // count that drifted.
        let mut wrong = if sim.now.secs() % 5 == 0 {
            live.machine.audit()
        } else {
            Vec::new()
        };
        if over {
            wrong.push(format!("{f:?}"));
        }
        for w in wrong {
            let v = Violation::Unbounded(format!("node {}: {w}", h.index));
            if !sim.report.violations.contains(&v) {
                sim.report.violations.push(v);
            }
        }
    }
}

/// When a node crashes, transfers that only it held are lost with it: its mempool is memory.
/// Those are excused (named), the rest must survive.
pub(super) fn on_crash(sim: &mut Sim, crashed: usize) {
    for a in sim.accepted.iter_mut().filter(|a| a.excused.is_none()) {
        let held = sim.hosts.iter().any(|h| {
            h.index != crashed
                && h.role == Role::Honest
                && (h.has_pending(&a.id) || h.has_confirmed(&a.id))
        });
        if !held {
            a.excused = Some("held only by a node that crashed");
        }
    }
}

/// The end-of-run checks.
pub(super) fn finish(sim: &mut Sim) {
    sim.report.settle_time = sim.now.since(sim.active_until);
    for h in sim.hosts.iter().filter(|h| h.role == Role::Honest) {
        for (d, n) in &h.defences {
            *sim.report.defences.entry(d).or_default() += n;
        }
    }
    if sim.report.final_convergence.is_none() {
        let tips: Vec<String> = sim
            .hosts
            .iter()
            .filter(|h| h.role == Role::Honest)
            .map(|h| match h.live() {
                Some(l) => {
                    let t = l.node.tip();
                    format!("node {} at {} {}", h.index, t.height, t.hash)
                }
                None => format!("node {} down", h.index),
            })
            .collect();
        sim.report.violations.push(Violation::NoConvergence(tips));
    }
    let (mut mined, mut pending, mut excused) = (0, 0, 0);
    let honest: Vec<&super::host::Host> = sim
        .hosts
        .iter()
        .filter(|h| h.role == Role::Honest && h.alive())
        .collect();
    for a in &sim.accepted {
        if honest.iter().any(|h| h.has_confirmed(&a.id)) {
            mined += 1;
        } else if honest.iter().any(|h| h.has_pending(&a.id)) {
            pending += 1;
        } else if a.excused.is_some() {
            excused += 1;
        } else {
            sim.report.violations.push(Violation::LostTransfer(a.id));
        }
    }
    sim.report.txs = (sim.accepted.len(), mined, pending, excused);
    if let Some(within) = sim.sc.spread_within {
        let deadline = super::Time(sim.active_until.0.saturating_sub(within.as_millis() as u64));
        for a in sim.accepted.iter().filter(|a| a.at <= deadline) {
            let lacking: Vec<usize> = honest
                .iter()
                .filter(|h| !h.has_pending(&a.id) && !h.has_confirmed(&a.id))
                .map(|h| h.index)
                .collect();
            if !lacking.is_empty() {
                sim.report
                    .violations
                    .push(Violation::NotSpread(a.id, lacking));
            }
        }
    }
    let honest_ips: Vec<(usize, String)> = sim
        .hosts
        .iter()
        .filter(|h| h.role == Role::Honest)
        .map(|h| (h.index, h.addr.ip().to_string()))
        .collect();
    for (by, key) in &sim.report.bans.clone() {
        // A misbehaving node's own opinion of the honest ones does not count.
        let by_honest = sim.hosts[*by].role == Role::Honest;
        if by_honest && honest_ips.iter().any(|(_, ip)| ip == key) {
            sim.report.violations.push(Violation::HonestBanned {
                by: *by,
                key: key.clone(),
            });
        }
    }
}
