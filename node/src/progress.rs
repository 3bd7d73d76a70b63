//! Sync progress as a pure tracker: sampled on a timer with the tip, the best header and the
//! count of transfers connected, the time passed in, it says when to report progress while the
//! node catches up (also when blocks stop coming: a rate of 0, time left unknown) and when it
//! has caught up. The caller ([`crate::terminal`]) decides how a report is shown: a log line,
//! or a bar at a terminal.
//!
//! "Catching up" is [`crate::readiness::syncing`]: the same rule as `/ready`'s `behind` and the
//! `syncing` flag, so the log, the bar and the API never disagree about it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::readiness::syncing;

/// How often a node catching up reports its progress: often enough to see it move, rarely
/// enough that a long sync does not flood the log (a 1,000,000-block sync at 300 blocks/s
/// writes about 700 lines).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Rates are measured over the blocks of this last stretch of time, so one slow block (or a
/// burst of empty ones) does not swing the estimate of the time left.
pub const RATE_WINDOW: Duration = Duration::from_secs(30);

/// One observation of the node, taken every second or so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Time since an arbitrary fixed start (the tracker only subtracts).
    pub at: Duration,
    /// Tip height after the block.
    pub height: u64,
    /// Best header height known.
    pub best: u64,
    /// Transfers connected to the best chain since the node started (a running count).
    pub txs: u64,
}

/// Where a sync stands, as reported every [`PROGRESS_INTERVAL`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Tip height.
    pub height: u64,
    /// Best header height.
    pub best: u64,
    /// `height / best`, in percent.
    pub percent: f64,
    /// Blocks connected per second over [`RATE_WINDOW`].
    pub blocks_per_sec: f64,
    /// Transfers connected per second over [`RATE_WINDOW`].
    pub txs_per_sec: f64,
    /// Time left at that rate; `None` before a rate is known.
    pub left: Option<Duration>,
}

/// What the tracker asks its caller to show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Report {
    /// The node is catching up (the first report comes with the first block).
    Progress(Progress),
    /// The node caught up: it is at most [`crate::readiness::READY_LAG`] blocks behind.
    CaughtUp {
        /// Tip height.
        height: u64,
        /// Blocks connected while catching up.
        blocks: u64,
        /// Transfers connected while catching up.
        txs: u64,
        /// How long it took.
        took: Duration,
    },
}

/// A sync under way.
#[derive(Debug)]
struct Run {
    start: Sample,
    /// Recent samples, oldest first, spanning at most [`RATE_WINDOW`] (at least one).
    window: VecDeque<Sample>,
    last_report: Duration,
}

/// The tracker; one per node.
#[derive(Debug, Default)]
pub struct Tracker {
    run: Option<Run>,
}

impl Tracker {
    /// A tracker for a node that is not catching up.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a sync is under way.
    pub fn catching_up(&self) -> bool {
        self.run.is_some()
    }

    /// Takes one sample; returns what to show, if anything.
    pub fn observe(&mut self, s: Sample) -> Option<Report> {
        let behind = syncing(s.height, s.best);
        match (&mut self.run, behind) {
            (None, false) => None,
            (None, true) => {
                let run = Run {
                    start: s,
                    window: VecDeque::from([s]),
                    last_report: s.at,
                };
                let report = progress(&run, s);
                self.run = Some(run);
                Some(Report::Progress(report))
            }
            (Some(run), true) => {
                run.window.push_back(s);
                while run.window.len() > 1
                    && run
                        .window
                        .front()
                        .is_some_and(|f| s.at.saturating_sub(f.at) > RATE_WINDOW)
                {
                    run.window.pop_front();
                }
                if s.at.saturating_sub(run.last_report) < PROGRESS_INTERVAL {
                    return None;
                }
                run.last_report = s.at;
                Some(Report::Progress(progress(run, s)))
            }
            (Some(run), false) => {
                let report = Report::CaughtUp {
                    height: s.height,
                    blocks: s.height.saturating_sub(run.start.height),
                    txs: s.txs.saturating_sub(run.start.txs),
                    took: s.at.saturating_sub(run.start.at),
                };
                self.run = None;
                Some(report)
            }
        }
    }
}

fn progress(run: &Run, s: Sample) -> Progress {
    let percent = if s.best == 0 {
        100.0
    } else {
        s.height as f64 * 100.0 / s.best as f64
    };
    let (blocks_per_sec, txs_per_sec) = match run.window.front() {
        Some(f) if s.at > f.at => {
            let secs = (s.at - f.at).as_secs_f64();
            (
                s.height.saturating_sub(f.height) as f64 / secs,
                s.txs.saturating_sub(f.txs) as f64 / secs,
            )
        }
        _ => (0.0, 0.0),
    };
    let left = (blocks_per_sec > 0.0)
        .then(|| {
            Duration::try_from_secs_f64(s.best.saturating_sub(s.height) as f64 / blocks_per_sec)
                .ok()
        })
        .flatten();
    Progress {
        height: s.height,
        best: s.best,
        percent,
        blocks_per_sec,
        txs_per_sec,
        left,
    }
}

/// A duration as people read it: `45s`, `3m 20s`, `2h 05m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, height: u64, best: u64, txs: u64) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            height,
            best,
            txs,
        }
    }

    #[test]
    fn a_node_in_step_reports_nothing() {
        let mut t = Tracker::new();
        for h in 1..100 {
            // One or two headers ahead is a block in flight, not a sync.
            assert_eq!(t.observe(at(h * 1000, h, h + 2, h * 3)), None);
        }
        assert!(!t.catching_up());
    }

    #[test]
    fn a_sync_reports_at_once_then_every_interval_then_once_caught_up() {
        let mut t = Tracker::new();
        // At 1 of 1,000 (10 transfers connected so far) at t=0: the first report at once.
        let Some(Report::Progress(p)) = t.observe(at(0, 1, 1000, 10)) else {
            panic!("no first report");
        };
        assert_eq!((p.height, p.best, p.left), (1, 1000, None));
        // Sampled every second: 100 blocks of 10 transfers each second; reports every 5 s.
        let mut reports = Vec::new();
        for i in 1..=9u64 {
            if let Some(r) = t.observe(at(i * 1000, 1 + i * 100, 1000, 10 + i * 1000)) {
                reports.push((i, r));
            }
        }
        assert_eq!(reports.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5]);
        let Report::Progress(p) = reports[0].1 else {
            panic!("not progress");
        };
        assert_eq!(p.height, 501);
        assert!((p.percent - 50.1).abs() < 1e-9, "{}", p.percent);
        assert!(
            (p.blocks_per_sec - 100.0).abs() < 1e-9,
            "{}",
            p.blocks_per_sec
        );
        assert!((p.txs_per_sec - 1000.0).abs() < 1e-9, "{}", p.txs_per_sec);
        assert_eq!(p.left.map(|d| d.as_secs()), Some(4));
        // Within READY_LAG of the best header: caught up, once.
        let r = t.observe(at(9_980, 998, 1000, 9_980));
        assert_eq!(
            r,
            Some(Report::CaughtUp {
                height: 998,
                blocks: 997,
                txs: 9_970,
                took: Duration::from_millis(9_980),
            })
        );
        assert!(!t.catching_up());
        assert_eq!(t.observe(at(10_000, 999, 1000, 9_990)), None);
    }

    #[test]
    fn a_stalled_sync_keeps_reporting_with_no_rate() {
        let mut t = Tracker::new();
        t.observe(at(0, 10, 500, 0));
        t.observe(at(1000, 60, 500, 0));
        // No block for a minute: reports go on, the rate falls to 0 once the window has only
        // the stalled stretch, and the time left is unknown.
        let mut last = None;
        for i in 2..=61u64 {
            if let Some(Report::Progress(p)) = t.observe(at(i * 1000, 60, 500, 0)) {
                last = Some(p);
            }
        }
        let p = last.expect("reports while stalled");
        assert_eq!((p.height, p.blocks_per_sec, p.left), (60, 0.0, None));
        assert!(t.catching_up());
    }

    #[test]
    fn rates_come_from_the_recent_window_only() {
        let mut t = Tracker::new();
        t.observe(at(0, 1, 100_000, 0));
        // 10 blocks/s for 60 s, then 100 blocks/s for 40 s, sampled every second.
        let mut h = 1;
        let mut last = None;
        for i in 1..=100u64 {
            h += if i <= 60 { 10 } else { 100 };
            last = t.observe(at(i * 1000, h, 100_000, 0)).or(last);
        }
        let Some(Report::Progress(p)) = last else {
            panic!("no report");
        };
        // The last report (at 100 s) saw only the fast stretch.
        assert!(
            (p.blocks_per_sec - 100.0).abs() < 0.5,
            "{}",
            p.blocks_per_sec
        );
    }

    #[test]
    fn a_new_sync_after_catching_up_starts_afresh() {
        let mut t = Tracker::new();
        t.observe(at(0, 10, 100, 5));
        assert!(matches!(
            t.observe(at(1000, 99, 100, 15)),
            Some(Report::CaughtUp {
                blocks: 89,
                txs: 10,
                ..
            })
        ));
        let Some(Report::Progress(p)) = t.observe(at(60_000, 100, 200, 15)) else {
            panic!("a second sync is reported");
        };
        assert_eq!((p.height, p.blocks_per_sec), (100, 0.0));
        assert!(matches!(
            t.observe(at(61_000, 200, 200, 15)),
            Some(Report::CaughtUp { blocks: 100, .. })
        ));
    }

    #[test]
    fn a_best_header_that_falls_back_ends_the_sync() {
        let mut t = Tracker::new();
        t.observe(at(0, 10, 100, 0));
        // The branch that was ahead turned out invalid: the best header is the tip again.
        assert!(matches!(
            t.observe(at(1000, 10, 10, 0)),
            Some(Report::CaughtUp { blocks: 0, .. })
        ));
        assert!(!t.catching_up());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut t = Tracker::new();
        t.observe(at(0, 0, u64::MAX, u64::MAX));
        let r = t.observe(at(u64::MAX / 2, u64::MAX - 3, u64::MAX, 0));
        assert!(matches!(r, Some(Report::Progress(_))));
        assert!(matches!(
            t.observe(at(u64::MAX, u64::MAX, u64::MAX, u64::MAX)),
            Some(Report::CaughtUp { .. })
        ));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human(Duration::from_secs(7500)), "2h 05m");
    }
}
