//! Whether a node should take users' traffic (`/ready`, a load balancer's question), as a pure
//! judgement over what the node knows: its peers, its tip and best header, and the time.
//!
//! The rules follow Zebra's readiness check: a node is not ready while it has no peers (a dev
//! node excepted: it is alone by design), while its tip is more than [`READY_LAG`] blocks below
//! the best header it knows, or while its tip is older than [`STALE_TIP_SPACINGS`] block
//! spacings (it may be cut off from a network that went on: a node stuck at genesis is).

/// A node is ready while its tip is at most this many blocks behind its best header chain: a
/// block or two in flight is normal.
pub const READY_LAG: u64 = 2;

/// A tip older than this many block spacings is stale: a healthy network goes that long
/// without a block with probability e^-20 (about 2 in a billion).
pub const STALE_TIP_SPACINGS: u64 = 20;

/// Why a node is not ready: `NoPeers` (no peer connected, and not a dev node), `Behind` (the
/// tip more than [`READY_LAG`] blocks below the best header), `StaleTip` (the tip older than
/// [`STALE_TIP_SPACINGS`] spacings). The API type, so `/ready` answers these names.
pub use ferrite_api::NotReady;

/// What readiness is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Connected peers.
    pub peers: usize,
    /// A dev node: ready alone.
    pub dev: bool,
    /// Tip height.
    pub tip_height: u64,
    /// Best header height.
    pub best_height: u64,
    /// Tip timestamp, Unix seconds.
    pub tip_time: u64,
    /// Now, Unix seconds.
    pub now: u64,
    /// The chain's block spacing, seconds.
    pub spacing: u64,
}

/// Every rule `facts` break, in the order of [`NotReady`]; empty: ready.
pub fn judge(facts: &Facts) -> Vec<NotReady> {
    let mut out = Vec::new();
    if facts.peers == 0 && !facts.dev {
        out.push(NotReady::NoPeers);
    }
    if facts.tip_height.saturating_add(READY_LAG) < facts.best_height {
        out.push(NotReady::Behind);
    }
    let max_age = facts.spacing.saturating_mul(STALE_TIP_SPACINGS);
    if facts.now.saturating_sub(facts.tip_time) > max_age {
        out.push(NotReady::StaleTip);
    }
    out
}

/// True while the node is catching up (the `syncing` flag of `/api/node/info`): the tip is
/// more than [`READY_LAG`] blocks below the best header, the same rule as [`NotReady::Behind`].
pub fn syncing(tip_height: u64, best_height: u64) -> bool {
    tip_height.saturating_add(READY_LAG) < best_height
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Facts = Facts {
        peers: 3,
        dev: false,
        tip_height: 100,
        best_height: 102,
        tip_time: 10_000,
        now: 10_000 + 60 * STALE_TIP_SPACINGS,
        spacing: 60,
    };

    #[test]
    fn each_rule_has_its_edge() {
        assert!(judge(&OK).is_empty());
        let alone = Facts { peers: 0, ..OK };
        assert_eq!(judge(&alone), vec![NotReady::NoPeers]);
        assert!(judge(&Facts { dev: true, ..alone }).is_empty());
        let behind = Facts {
            best_height: 103,
            ..OK
        };
        assert_eq!(judge(&behind), vec![NotReady::Behind]);
        let stale = Facts {
            now: OK.now + 1,
            ..OK
        };
        assert_eq!(judge(&stale), vec![NotReady::StaleTip]);
        // A tip from the future (clock skew) is not stale; extremes do not overflow.
        assert!(judge(&Facts { now: 0, ..OK }).is_empty());
        let all = Facts {
            peers: 0,
            tip_height: u64::MAX,
            best_height: u64::MAX,
            tip_time: 0,
            now: u64::MAX,
            spacing: u64::MAX,
            dev: false,
        };
        assert_eq!(judge(&all), vec![NotReady::NoPeers]);
    }

    #[test]
    fn syncing_is_the_behind_rule() {
        assert!(!syncing(100, 102));
        assert!(syncing(100, 103));
        assert!(!syncing(u64::MAX, u64::MAX));
    }
}
