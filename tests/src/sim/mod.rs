//! The whole-network simulator: N nodes, each the real peer state machine over the real chain
//! and mempool (RocksDB in temporary dirs), on a simulated network with per-link latency,
//! connection drops, partitions and heals, crashes and restarts (the store survives, memory
//! does not), late joiners, clock skew, and misbehaving peers. One seed gives one run: the
//! simulator's own RNG, every machine's RNG and every clock come from it, and every event is
//! folded into a trace hash that two runs of one seed must share.
//!
//! A run has an active phase (mining, transfers, faults), then a settling phase: links heal,
//! crashed nodes restart, mining and transfers stop, and every live honest node must reach the
//! same tip and state digest within a bound. Two branches of equal work stay split under
//! first-seen fork choice until the next block (as in Bitcoin), so while the nodes disagree
//! one miner finds one block every 30 simulated seconds. [`check`] holds the invariants.

pub mod check;
mod evil;
pub mod host;
pub mod net;
mod scenario;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrite_core::dev::{dev_genesis_config, dev_key};
use ferrite_core::{Address, Genesis, Hash, Transaction};
use ferrite_node::p2p::compact_conn::{self, Step};
use ferrite_node::p2p::fsm::{Close, Input, Learnt, Time};
use ferrite_node::p2p::wire::Message;
use ferrite_node::p2p::PeerId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub use check::{Report, Violation};
pub use host::Role;
use host::{Effect, Host};
use net::{End, Net};
pub use scenario::Scenario;

/// Simulated start: 2027-01-15, a fixed instant so that runs do not depend on the wall clock.
const START_SECS: u64 = 1_800_000_000;
/// While settling, a tie between branches of equal work (which first-seen fork choice never
/// resolves by itself) is broken by one block this long after the last.
const TIE_BREAK_AFTER: Duration = Duration::from_secs(30);
/// Dev accounts that send the simulated transfers.
const SENDERS: u32 = 8;

/// A transfer the simulation submitted and a node accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Its id.
    pub id: Hash,
    /// When it was accepted.
    pub at: Time,
    /// Set when it was lost for a reason the run can name.
    pub excused: Option<&'static str>,
}

#[derive(Debug)]
enum Ev {
    /// A message arrives over a connection at end `to`.
    Deliver {
        conn: usize,
        to: usize,
        msg: Message,
    },
    /// A dial's handshake completes (or fails, if the target is gone by then).
    Handshake {
        dialer: usize,
        incarnation: u32,
        target: usize,
        addr: SocketAddr,
    },
    /// A dial fails.
    DialFailed {
        host: usize,
        incarnation: u32,
        addr: SocketAddr,
    },
    /// Work the machine asked for is done.
    Work {
        host: usize,
        incarnation: u32,
        input: Input,
    },
    /// A connection end learns its connection closed.
    Closed {
        host: usize,
        incarnation: u32,
        peer: PeerId,
        remote: SocketAddr,
        dialed: Option<SocketAddr>,
        close: Close,
    },
    Tick {
        host: usize,
        incarnation: u32,
    },
    Flush {
        host: usize,
        incarnation: u32,
    },
    Mine {
        host: usize,
    },
    Tx,
    Partition,
    Heal,
    Crash {
        host: usize,
    },
    Restart {
        host: usize,
    },
    Join {
        host: usize,
    },
    Flood {
        host: usize,
        incarnation: u32,
    },
    /// While settling: one block from one miner, to break a tie between equal-work branches.
    TieBreak,
    Forge {
        host: usize,
        incarnation: u32,
    },
    Withhold {
        host: usize,
        incarnation: u32,
    },
    Check,
}

/// A running simulation.
pub struct Sim {
    sc: Scenario,
    rng: ChaCha20Rng,
    now: Time,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    hosts: Vec<Host>,
    net: Net,
    genesis: Genesis,
    trace: blake3::Hasher,
    /// Transfers accepted into a mempool.
    pub accepted: Vec<Accepted>,
    next_nonce: Vec<u64>,
    active_until: Time,
    settling: bool,
    heal_at: Option<Time>,
    /// What happened.
    pub report: Report,
    _dir: tempfile::TempDir,
}

impl Sim {
    /// Sets up `sc` (no event has run yet).
    pub fn new(sc: Scenario) -> Sim {
        let mut rng = ChaCha20Rng::seed_from_u64(sc.seed);
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("no temporary dir: {e}"),
        };
        let cfg = dev_genesis_config(SENDERS + 2, START_SECS - 600, 10);
        let genesis = match cfg.build() {
            Ok(g) => g,
            Err(e) => panic!("dev genesis: {e}"),
        };
        let honest = sc.nodes - sc.evil.len();
        let mut hosts = Vec::new();
        for i in 0..sc.nodes {
            let role = if i < honest {
                Role::Honest
            } else {
                sc.evil[i - honest]
            };
            let skew = rng.gen_range(-sc.max_skew_secs..=sc.max_skew_secs);
            let mut h = Host::new(i, dir.path().join(format!("node{i}")), role, skew);
            h.compact_relay = sc.compact_relay;
            if i < sc.miners && role == Role::Honest {
                h.miner = Some(Address([i as u8 + 1; 32]));
            }
            hosts.push(h);
        }
        // A ring: each node knows the next two; discovery finds the rest.
        let n = sc.nodes;
        for (i, h) in hosts.iter_mut().enumerate() {
            h.configured = [(i + 1) % n, (i + 2) % n]
                .into_iter()
                .filter(|j| *j != i)
                .map(host::address)
                .collect();
        }
        if sc.evil.contains(&Role::Squatter) {
            squatters_know_everyone(&mut hosts, sc.late_joiners);
        }
        let net = Net::new(sc.nodes, sc.latency_ms, &mut rng);
        let now = Time::from_secs(START_SECS);
        let active_until = now + sc.active;
        Sim {
            next_nonce: vec![0; SENDERS as usize],
            sc,
            rng,
            now,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            hosts,
            net,
            genesis,
            trace: blake3::Hasher::new(),
            accepted: Vec::new(),
            active_until,
            settling: false,
            heal_at: None,
            report: Report::default(),
            _dir: dir,
        }
    }

    fn at(&mut self, t: Time, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.queue.push(Reverse((t, self.seq)));
    }

    fn after(&mut self, d: Duration, ev: Ev) {
        let t = self.now + d;
        self.at(t, ev);
    }

    fn exp(&mut self, mean: Duration) -> Duration {
        let u: f64 = self.rng.gen_range(1e-9..1.0);
        Duration::from_secs_f64(-u.ln() * mean.as_secs_f64())
    }

    /// Runs the scenario to the end and checks the invariants.
    pub fn run(mut self) -> Report {
        let wall = Instant::now();
        self.schedule_start();
        let settle_deadline = self.active_until + self.sc.settle_limit;
        while let Some(Reverse((t, seq))) = self.queue.pop() {
            let Some(ev) = self.events.remove(&seq) else {
                continue;
            };
            self.now = t;
            if !self.settling && t >= self.active_until {
                self.begin_settling();
            }
            self.trace_event(&ev);
            self.step(ev);
            if self.settling {
                if let Some(converged) = self.converged() {
                    self.report.final_convergence = Some(converged);
                    break;
                }
                if t > settle_deadline {
                    break;
                }
            }
        }
        self.report.simulated = self.now.since(Time::from_secs(START_SECS));
        self.report.wall = wall.elapsed();
        self.report.trace = *self.trace.finalize().as_bytes();
        check::finish(&mut self);
        self.report
    }

    fn schedule_start(&mut self) {
        let late_from = self.sc.nodes - self.sc.evil.len() - self.sc.late_joiners;
        for i in 0..self.sc.nodes {
            let is_late = i >= late_from && i < self.sc.nodes - self.sc.evil.len();
            let d = if is_late {
                self.sc.active / 2
            } else {
                Duration::from_millis(self.rng.gen_range(0..2_000))
            };
            self.after(d, Ev::Join { host: i });
        }
        for i in 0..self.sc.nodes {
            if self.hosts[i].miner.is_some() {
                let d = self.exp(self.sc.block_interval);
                self.after(d, Ev::Mine { host: i });
            }
        }
        let d = self.exp(self.sc.tx_interval);
        self.after(d, Ev::Tx);
        let active = self.sc.active.as_secs_f64();
        for k in 0..self.sc.partitions {
            let slot = active / f64::from(self.sc.partitions);
            let start = slot * f64::from(k) + self.rng.gen_range(0.1..0.4) * slot;
            let len = self.rng.gen_range(0.2..0.4) * slot;
            self.after(Duration::from_secs_f64(start), Ev::Partition);
            self.after(Duration::from_secs_f64(start + len), Ev::Heal);
        }
        let honest = self.sc.nodes - self.sc.evil.len();
        for _ in 0..self.sc.crashes {
            let host = self.rng.gen_range(0..honest);
            let at = self.rng.gen_range(0.1..0.8) * active;
            let down = self.rng.gen_range(5.0..40.0);
            self.after(Duration::from_secs_f64(at), Ev::Crash { host });
            self.after(Duration::from_secs_f64(at + down), Ev::Restart { host });
        }
        self.after(Duration::from_secs(1), Ev::Check);
    }

    fn begin_settling(&mut self) {
        self.settling = true;
        self.after(TIE_BREAK_AFTER, Ev::TieBreak);
        self.net.set_partition(None);
        for i in 0..self.hosts.len() {
            if !self.hosts[i].alive() && self.report.joined.contains(&i) {
                self.restart(i);
            }
        }
    }

    fn trace_event(&mut self, ev: &Ev) {
        self.trace.update(&self.now.0.to_le_bytes());
        let tag = match ev {
            Ev::Deliver { conn, to, msg } => {
                self.trace.update(&(*conn as u64).to_le_bytes());
                self.trace.update(&[*to as u8]);
                self.trace.update(&msg.to_frame([0; 4]));
                0
            }
            Ev::Handshake { dialer, target, .. } => {
                self.trace.update(&[*dialer as u8, *target as u8]);
                1
            }
            Ev::DialFailed { host, .. } => {
                self.trace.update(&[*host as u8]);
                2
            }
            Ev::Work { host, input, .. } => {
                self.trace.update(&[*host as u8]);
                self.trace.update(format!("{input:?}").as_bytes());
                3
            }
            Ev::Closed { host, peer, .. } => {
                self.trace.update(&[*host as u8]);
                self.trace.update(&peer.to_le_bytes());
                4
            }
            Ev::Tick { host, .. } | Ev::Flush { host, .. } => {
                self.trace.update(&[*host as u8]);
                5
            }
            Ev::Mine { host } | Ev::Crash { host } | Ev::Restart { host } | Ev::Join { host } => {
                self.trace.update(&[*host as u8]);
                6
            }
            Ev::Flood { host, .. } | Ev::Forge { host, .. } | Ev::Withhold { host, .. } => {
                self.trace.update(&[*host as u8]);
                7
            }
            Ev::Tx | Ev::Partition | Ev::Heal | Ev::Check | Ev::TieBreak => 8,
        };
        self.trace.update(&[tag]);
    }

    fn live(&self, host: usize, incarnation: u32) -> bool {
        self.hosts[host].alive() && self.hosts[host].incarnation == incarnation
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { conn, to, msg } => self.deliver(conn, to, msg),
            Ev::Handshake {
                dialer,
                incarnation,
                target,
                addr,
            } => self.handshake(dialer, incarnation, target, addr),
            Ev::DialFailed {
                host,
                incarnation,
                addr,
            } => {
                if self.live(host, incarnation) {
                    self.input(host, Input::DialFailed(addr));
                }
            }
            Ev::Work {
                host,
                incarnation,
                input,
            } => {
                if self.live(host, incarnation) {
                    self.input(host, input);
                }
            }
            Ev::Closed {
                host,
                incarnation,
                peer,
                remote,
                dialed,
                close,
            } => {
                if self.live(host, incarnation) {
                    let node_id = self
                        .hosts
                        .iter()
                        .find(|h| h.addr.ip() == remote.ip())
                        .map(|h| host_node_id(h.index));
                    let learnt = Learnt {
                        node_id,
                        listen_port: Some(host::PORT),
                    };
                    let input = Input::Closed {
                        id: peer,
                        remote,
                        dialed,
                        close,
                        learnt,
                    };
                    self.input(host, input);
                }
            }
            Ev::Tick { host, incarnation } => {
                if self.live(host, incarnation) {
                    self.input(host, Input::Tick);
                    self.after(Duration::from_secs(1), Ev::Tick { host, incarnation });
                }
            }
            Ev::Flush { host, incarnation } => {
                if self.live(host, incarnation) {
                    self.input(host, Input::FlushTxs);
                    self.after(Duration::from_millis(50), Ev::Flush { host, incarnation });
                }
            }
            Ev::Mine { host } => {
                if !self.settling {
                    let d = self.exp(self.sc.block_interval);
                    self.after(d, Ev::Mine { host });
                    self.mine(host);
                }
            }
            Ev::TieBreak => {
                let miner = (0..self.hosts.len())
                    .find(|i| self.hosts[*i].miner.is_some() && self.hosts[*i].alive());
                if let Some(host) = miner {
                    self.report.tie_breaks += 1;
                    self.mine(host);
                }
                self.after(TIE_BREAK_AFTER, Ev::TieBreak);
            }
            Ev::Tx => self.submit_tx(),
            Ev::Partition => self.partition(),
            Ev::Heal => {
                self.net.set_partition(None);
                self.heal_at = Some(self.now);
            }
            Ev::Crash { host } => self.crash(host),
            Ev::Restart { host } => {
                let joined = self.report.joined.contains(&host);
                if joined && !self.settling && !self.hosts[host].alive() {
                    self.restart(host);
                }
            }
            Ev::Join { host } => {
                if !self.report.joined.contains(&host) {
                    self.report.joined.push(host);
                    self.restart(host);
                }
            }
            Ev::Flood { host, incarnation } => self.flood(host, incarnation),
            Ev::Forge { host, incarnation } => self.forge(host, incarnation),
            Ev::Withhold { host, incarnation } => self.withhold(host, incarnation),
            Ev::Check => {
                check::during(self);
                if let Some(at) = self.heal_at {
                    if let Some(_tip) = self.converged() {
                        self.report.heal_convergence.push(self.now.since(at));
                        self.heal_at = None;
                    }
                }
                self.after(Duration::from_secs(1), Ev::Check);
            }
        }
    }

    /// Feeds `input` to `host` and carries out what follows.
    fn input(&mut self, host: usize, input: Input) {
        let effects = self.hosts[host].handle(input, self.now);
        self.apply(host, effects);
    }

    fn apply(&mut self, host: usize, effects: Vec<Effect>) {
        let incarnation = self.hosts[host].incarnation;
        for e in effects {
            match e {
                Effect::Send(peer, msg) => self.send(host, peer, msg),
                Effect::Close(peer) => {
                    if let Some((n, _)) = self.net.find(host, peer) {
                        self.close(n, None);
                    }
                }
                Effect::Dial(addr) => self.dial(host, addr),
                Effect::Later(input) => self.after(
                    Duration::from_millis(1),
                    Ev::Work {
                        host,
                        incarnation,
                        input,
                    },
                ),
                Effect::Banned(key) => self.report.bans.push((host, key.to_string())),
                Effect::Tip { reorg } => {
                    if reorg > 0 {
                        self.report.reorgs += 1;
                        self.report.deepest_reorg = self.report.deepest_reorg.max(reorg);
                    }
                }
            }
        }
    }

    fn send(&mut self, host: usize, peer: PeerId, msg: Message) {
        let Some((n, side)) = self.net.find(host, peer) else {
            return;
        };
        if self.hosts[host].role == Role::Squatter && evil::offers_something(&msg) {
            return;
        }
        let bytes = msg.to_frame([0; 4]).len() as u64;
        self.report.count_sent(host, bytes);
        if self.rng.gen_bool(self.sc.drop_rate) {
            self.close(n, None);
            return;
        }
        let at = self.net.arrival(n, side, self.now, &mut self.rng);
        self.at(
            at,
            Ev::Deliver {
                conn: n,
                to: 1 - side,
                msg,
            },
        );
    }

    fn deliver(&mut self, n: usize, to: usize, msg: Message) {
        let c = &self.net.conns[n];
        if !c.open {
            return;
        }
        let end = c.ends[to];
        if !self.live(end.host, end.incarnation) {
            return;
        }
        if let Some(answers) = self.hosts[end.host].serve(&msg) {
            for a in answers {
                self.send(end.host, end.peer, a);
            }
            return;
        }
        // As a connection does: a block's body is checked on arrival and goes on with its ids;
        // a compact block is rebuilt from the receiver's mempool.
        let peer = end.peer;
        let step = match msg {
            Message::Block(b) => match ferrite_node::p2p::serve::check_body(b) {
                Ok(block) => {
                    self.report.blocks_delivered.whole += 1;
                    Ok(Some(Input::Block { id: peer, block }))
                }
                Err(why) => Err(why),
            },
            Message::CompactBlock { compact, validated } => {
                let Some(live) = self.hosts[end.host].live() else {
                    return;
                };
                let parent = compact_conn::parent_of(&live.node.view(), &compact.header.prev);
                let params = live.node.params();
                let limits = compact_conn::CompactLimits {
                    max_txs: params.max_block_size as usize
                        / ferrite_core::transaction::SIGNED_TX_LEN,
                    pow_limit: params.pow_limit,
                };
                let pool = live.node.mempool();
                let step = self.net.conns[n].compact[to]
                    .on_compact(compact, validated, parent, &limits, &pool);
                drop(pool);
                step.map(|s| self.compact_input(end.host, peer, s))
            }
            Message::BlockTxs { block, txs } => self.net.conns[n].compact[to]
                .on_block_txs(block, txs)
                .map(|s| self.compact_input(end.host, peer, s)),
            msg => Ok(Some(Input::Message { id: peer, msg })),
        };
        let input = match step {
            Ok(Some(input)) => input,
            Ok(None) => return,
            Err(why) => return self.close(n, Some((to, why))),
        };
        self.input(end.host, input);
    }

    /// What a connection does with its compact receiver's decision: a request goes back to the
    /// sender at once (and the machine learns the block is on its way), a rebuilt block becomes
    /// the machine's input.
    fn compact_input(&mut self, host: usize, peer: PeerId, step: Step) -> Option<Input> {
        let d = &mut self.report.blocks_delivered;
        match step {
            Step::Deliver { block, validated } => {
                d.rebuilt += 1;
                Some(Input::CompactBlock {
                    id: peer,
                    block,
                    validated,
                })
            }
            Step::Ask { header, request } => {
                d.asked_missing += 1;
                self.send(host, peer, request);
                Some(Input::CompactAwaited { id: peer, header })
            }
            Step::Nothing => None,
        }
    }

    /// Closes connection `n`; each end learns it after a moment. `violation` names the end
    /// that saw the other break the protocol.
    fn close(&mut self, n: usize, violation: Option<(usize, ferrite_node::p2p::fsm::Misbehavior)>) {
        if !self.net.close(n) {
            return;
        }
        let ends = self.net.conns[n].ends;
        for (i, e) in ends.iter().enumerate() {
            let other = ends[1 - i];
            let close = match &violation {
                Some((side, why)) if *side == i => Close::Misbehaved(why.clone()),
                _ => Close::Dropped("connection closed".into()),
            };
            let remote = if i == 0 {
                self.hosts[other.host].addr
            } else {
                SocketAddr::new(self.hosts[other.host].addr.ip(), 40_000)
            };
            let dialed = (i == 0).then_some(self.hosts[other.host].addr);
            self.after(
                Duration::from_millis(1),
                Ev::Closed {
                    host: e.host,
                    incarnation: e.incarnation,
                    peer: e.peer,
                    remote,
                    dialed,
                    close,
                },
            );
        }
    }

    fn dial(&mut self, host: usize, addr: SocketAddr) {
        let incarnation = self.hosts[host].incarnation;
        let target = self.hosts.iter().position(|h| h.addr == addr);
        match target {
            Some(t) if t == host => {
                let peer = self.hosts[host].next_peer();
                self.after(
                    Duration::from_millis(1),
                    Ev::Closed {
                        host,
                        incarnation,
                        peer,
                        remote: addr,
                        dialed: Some(addr),
                        close: Close::SelfConnection,
                    },
                );
            }
            Some(t) if self.hosts[t].alive() && self.net.reachable(host, t) => {
                let rtt = self.net.latency(host, t, &mut self.rng) * 3;
                self.after(
                    rtt,
                    Ev::Handshake {
                        dialer: host,
                        incarnation,
                        target: t,
                        addr,
                    },
                );
            }
            _ => self.after(
                Duration::from_secs(2),
                Ev::DialFailed {
                    host,
                    incarnation,
                    addr,
                },
            ),
        }
    }

    fn handshake(&mut self, dialer: usize, incarnation: u32, target: usize, addr: SocketAddr) {
        if !self.live(dialer, incarnation) {
            return;
        }
        if !self.hosts[target].alive() || !self.net.reachable(dialer, target) {
            self.input(dialer, Input::DialFailed(addr));
            return;
        }
        let (Some(v_dialer), Some(v_target)) =
            (self.hosts[dialer].version(), self.hosts[target].version())
        else {
            return;
        };
        let a = End {
            host: dialer,
            peer: self.hosts[dialer].next_peer(),
            incarnation,
        };
        let b = End {
            host: target,
            peer: self.hosts[target].next_peer(),
            incarnation: self.hosts[target].incarnation,
        };
        self.net.open(a, b, self.now);
        let dialer_addr = SocketAddr::new(self.hosts[dialer].addr.ip(), 40_000);
        self.input(
            target,
            Input::Connected {
                id: b.peer,
                remote: dialer_addr,
                local: addr,
                dialed: None,
                version: v_dialer,
                node_id: host_node_id(dialer),
            },
        );
        self.input(
            dialer,
            Input::Connected {
                id: a.peer,
                remote: addr,
                local: dialer_addr,
                dialed: Some(addr),
                version: v_target,
                node_id: host_node_id(target),
            },
        );
    }

    fn restart(&mut self, host: usize) {
        let seed = self.sc.seed;
        let now = self.now;
        self.hosts[host].start(&self.genesis, seed, now);
        let incarnation = self.hosts[host].incarnation;
        let jitter = Duration::from_millis(self.rng.gen_range(0..1_000));
        self.after(jitter, Ev::Tick { host, incarnation });
        self.after(Duration::from_millis(50), Ev::Flush { host, incarnation });
        match self.hosts[host].role {
            Role::Flooder => self.after(jitter, Ev::Flood { host, incarnation }),
            Role::Forger => self.after(Duration::from_secs(10), Ev::Forge { host, incarnation }),
            Role::Withholder => self.after(jitter, Ev::Withhold { host, incarnation }),
            _ => {}
        }
        // Start-up output (dials of the configured peers).
        let effects = self.hosts[host].handle(Input::Tick, self.now);
        self.apply(host, effects);
    }

    fn crash(&mut self, host: usize) {
        if !self.hosts[host].alive() {
            return;
        }
        self.report.crashes += 1;
        self.hosts[host].crash();
        check::on_crash(self, host);
        for n in self.net.conns_of(host) {
            self.close(n, None);
        }
    }

    fn partition(&mut self) {
        let groups: Vec<u8> = (0..self.hosts.len())
            .map(|_| self.rng.gen_range(0..2))
            .collect();
        self.net.set_partition(Some(groups));
        self.report.partitions += 1;
        for n in self.net.cut() {
            self.close(n, None);
        }
    }

    fn mine(&mut self, host: usize) {
        let Some(miner) = self.hosts[host].miner else {
            return;
        };
        let Some(live) = self.hosts[host].live() else {
            return;
        };
        self.hosts[host].set_clock(self.now);
        let node = live.node.clone();
        let mut block = match node.block_template(miner) {
            Ok(b) => b,
            Err(e) => panic!("seed {}: host {host}: template: {e}", self.sc.seed),
        };
        if !ferrite_core::template::mine(&mut block.header, u64::MAX) {
            return;
        }
        match node.submit_block(block) {
            Ok(_) => self.report.blocks_mined += 1,
            Err(e) => panic!("seed {}: host {host}: own block refused: {e}", self.sc.seed),
        }
        let effects = self.hosts[host].handle(Input::FlushTxs, self.now);
        self.apply(host, effects);
    }

    fn submit_tx(&mut self) {
        if self.settling {
            return;
        }
        let d = self.exp(self.sc.tx_interval);
        self.after(d, Ev::Tx);
        let honest: Vec<usize> = (0..self.hosts.len())
            .filter(|i| self.hosts[*i].role == Role::Honest && self.hosts[*i].alive())
            .collect();
        if honest.is_empty() {
            return;
        }
        let host = honest[self.rng.gen_range(0..honest.len())];
        let sender = self.rng.gen_range(0..SENDERS);
        let key = dev_key(sender);
        let nonce = self.next_nonce[sender as usize];
        let tx = Transaction {
            sender: key.public_key(),
            recipient: Address([200 + (nonce % 50) as u8; 32]),
            amount: 1 + nonce,
            fee: ferrite_node::mempool::DEFAULT_MIN_FEE,
            nonce,
        }
        .sign(&key, &self.genesis.params.genesis_hash);
        let Some(live) = self.hosts[host].live() else {
            return;
        };
        self.hosts[host].set_clock(self.now);
        if let Ok(id) = live.node.submit_tx(tx) {
            self.next_nonce[sender as usize] += 1;
            self.accepted.push(Accepted {
                id,
                at: self.now,
                excused: None,
            });
        }
        let effects = self.hosts[host].handle(Input::FlushTxs, self.now);
        self.apply(host, effects);
    }

    /// The tip all live honest nodes share, if they do.
    fn converged(&self) -> Option<(Hash, u64)> {
        let mut tip = None;
        for h in &self.hosts {
            if h.role != Role::Honest || !self.report.joined.contains(&h.index) {
                continue;
            }
            let live = h.live()?;
            let view = live.node.view();
            let this = (view.tip.hash, view.tip.state_root, view.digest.to_bytes());
            match &tip {
                None => tip = Some(this),
                Some(t) if *t == this => {}
                Some(_) => return None,
            }
        }
        let (hash, _, _) = tip?;
        let height = self
            .hosts
            .iter()
            .find_map(|h| h.live().map(|l| l.node.tip().height))
            .unwrap_or(0);
        Some((hash, height))
    }
}

/// Against squatters: the honest nodes that start at once know each other in a ring, a late
/// joiner knows only the first two of them (so it must get in where squatters hold the slots),
/// and every squatter knows every honest node.
fn squatters_know_everyone(hosts: &mut [Host], late_joiners: usize) {
    let honest: Vec<usize> = hosts
        .iter()
        .filter(|h| h.role == Role::Honest)
        .map(|h| h.index)
        .collect();
    let early = honest.len().saturating_sub(late_joiners).max(1);
    for h in hosts.iter_mut() {
        let i = h.index;
        h.configured = if h.role == Role::Squatter {
            honest.iter().map(|j| host::address(*j)).collect()
        } else if i < early {
            [(i + 1) % early, (i + 2) % early]
                .into_iter()
                .filter(|j| *j != i)
                .map(host::address)
                .collect()
        } else {
            honest.iter().take(2).map(|j| host::address(*j)).collect()
        };
    }
}

/// The simulated host's node id (the simulator has no transport; each host keeps one id).
fn host_node_id(host: usize) -> ferrite_node::p2p::identity::NodeId {
    ferrite_node::p2p::identity::NodeId(*blake3::hash(&(host as u64).to_le_bytes()).as_bytes())
}
