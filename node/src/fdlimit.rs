//! The node's file-descriptor budget: at start the soft `RLIMIT_NOFILE` is raised toward the
//! hard limit, and that limit is shared out ([`Budget::from_limit`], a pure function) between
//! what must always have descriptors (the store, the process's own files) and the connections.
//! P2P is served first, so that however many explorer clients connect, the node keeps the
//! descriptors it needs to stay on the network; the explorer gets what is left, up to what it
//! was configured for. The caps the node then runs with are the budget's (docs/operating.md).

use nix::sys::resource::{getrlimit, rlim_t, setrlimit, Resource};

/// The soft limit the node raises itself to at start, when the hard limit allows: room for
/// every connection the defaults allow several times over. Not the hard limit itself when that
/// is higher: nothing here needs more, and where the hard limit is "unlimited" the kernel
/// refuses a soft limit that large anyway.
const RAISE_TO: rlim_t = 65_536;
/// The limit assumed if it cannot be read: Linux's usual soft default.
const FALLBACK_LIMIT: u64 = 1024;

/// Descriptors kept for the process's own files: standard streams, the runtime's epoll and
/// wakeup descriptors, the two listeners, the data dir's small files (identity key, genesis),
/// signal handling, and whatever the blocking pool opens for a moment. Generous: these are
/// few, and running out of them fails in places that cannot wait and retry.
pub const OTHER_RESERVE: u64 = 64;
/// Descriptors kept for RocksDB: its table cache ([`crate::store::MAX_OPEN_FILES`], which
/// RocksDB counts with its write-ahead log, manifest, lock and info log) and the files a flush
/// or compaction is writing meanwhile.
pub const STORE_RESERVE: u64 = crate::store::MAX_OPEN_FILES as u64 + 16;
/// Fewest descriptors for connections with which the node still starts: a full set of
/// outbound peers and a few explorer clients. Below it the limit is an error.
pub const MIN_CONNECTIONS: u64 = 16;
/// HTTP connections kept even when P2P would take every descriptor left, so that an operator
/// can still reach `/healthy` and `/metrics`.
pub const MIN_HTTP_CONNECTIONS: usize = 4;

/// What the configuration asks for (0 for a part that is off: no listener, no explorer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// Outbound peers (`max_outbound`).
    pub p2p_outbound: usize,
    /// Inbound peers (`max_inbound`).
    pub p2p_inbound: usize,
    /// Inbound connections in their handshake at once.
    pub handshakes: usize,
    /// HTTP connections open at once (`max_http_connections`).
    pub http_connections: usize,
}

/// How many of each fit under a descriptor limit: never more than asked, and together with the
/// reserves never more than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The soft descriptor limit it was made for.
    pub limit: u64,
    /// Outbound peers.
    pub p2p_outbound: usize,
    /// Inbound peers.
    pub p2p_inbound: usize,
    /// Inbound connections in their handshake at once.
    pub handshakes: usize,
    /// HTTP connections open at once.
    pub http_connections: usize,
}

/// Why no budget fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The limit cannot hold the reserves and a few connections.
    #[error(
        "the descriptor limit is {limit}, below the {needed} the node needs for its store, its \
         own files and a few connections; raise it (ulimit -n, or LimitNOFILE= under systemd; \
         see docs/operating.md)"
    )]
    TooSmall {
        /// The soft limit.
        limit: u64,
        /// The least that works.
        needed: u64,
    },
}

impl Budget {
    /// Shares `limit` descriptors out for `wanted`: first the reserves (the process's own
    /// files, the store), then outbound peers, then inbound peers and their handshake slots
    /// (shared in the proportion asked when both do not fit), then HTTP connections with what
    /// is left, but never fewer than [`MIN_HTTP_CONNECTIONS`] (or as many as asked, if fewer).
    pub fn from_limit(limit: u64, wanted: Wanted) -> Result<Budget, BudgetError> {
        let reserved = OTHER_RESERVE + STORE_RESERVE;
        let needed = reserved + MIN_CONNECTIONS;
        if limit < needed {
            return Err(BudgetError::TooSmall { limit, needed });
        }
        // At least MIN_CONNECTIONS, which is more than MIN_HTTP_CONNECTIONS.
        let room = limit - reserved;
        let p2p_room = room.saturating_sub(wide(MIN_HTTP_CONNECTIONS));
        let outbound = wide(wanted.p2p_outbound).min(p2p_room);
        let (inbound, handshakes) = share(
            p2p_room - outbound,
            wide(wanted.p2p_inbound),
            wide(wanted.handshakes),
        );
        let left = room - outbound - inbound - handshakes;
        let http = wide(wanted.http_connections).min(left);
        Ok(Budget {
            limit,
            p2p_outbound: narrow(outbound),
            p2p_inbound: narrow(inbound),
            handshakes: narrow(handshakes),
            http_connections: narrow(http),
        })
    }

    /// True if any number is below what `wanted` asked.
    pub fn cuts(&self, wanted: &Wanted) -> bool {
        self.p2p_outbound < wanted.p2p_outbound
            || self.p2p_inbound < wanted.p2p_inbound
            || self.handshakes < wanted.handshakes
            || self.http_connections < wanted.http_connections
    }
}

/// Inbound connections and handshake slots in `room`: both as asked if they fit, else `room`
/// shared in the proportion asked, with one handshake slot whenever an inbound connection fits
/// (every inbound connection begins as a handshake).
fn share(room: u64, inbound: u64, handshakes: u64) -> (u64, u64) {
    let asked = u128::from(inbound) + u128::from(handshakes);
    if asked <= u128::from(room) {
        return (inbound, handshakes);
    }
    // `asked` > `room` >= 0, so it is not zero; each part is at most `room`.
    let part = |n: u64| u64::try_from(u128::from(room) * u128::from(n) / asked).unwrap_or(room);
    let (mut i, mut h) = (part(inbound), part(handshakes));
    if i > 0 && h == 0 {
        i -= 1;
        h = 1;
    }
    (i, h)
}

fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Every budget number is at most a `usize` that was asked for.
fn narrow(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The descriptor limits around [`raise_soft_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit (`u64::MAX`: unlimited).
    pub hard: u64,
}

/// Why the limits could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// `getrlimit` failed.
    #[error("cannot read the descriptor limit: {0}")]
    Read(#[source] nix::errno::Errno),
}

/// Raises the soft descriptor limit to the hard limit, or to [`RAISE_TO`] if the hard limit
/// is higher; a limit already that high is left alone. A refusal to raise it is logged and the
/// old limit kept.
pub fn raise_soft_limit() -> Result<Limits, LimitError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(LimitError::Read)?;
    let target = hard.min(RAISE_TO);
    let mut now = soft;
    if soft < target {
        match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            Ok(()) => now = target,
            Err(e) => tracing::warn!(
                error = %e,
                soft = to_u64(soft),
                wanted = to_u64(target),
                "cannot raise the soft descriptor limit; keeping it"
            ),
        }
    }
    Ok(Limits {
        before: to_u64(soft),
        soft: to_u64(now),
        hard: to_u64(hard),
    })
}

/// `rlim_t` is `u64` on most targets but not all.
fn to_u64<T: TryInto<u64>>(v: T) -> u64 {
    v.try_into().unwrap_or(u64::MAX)
}

/// Raises the soft limit, shares it out for `wanted`, and logs the budget (`descriptor budget`
/// at INFO; a warning as well when the limit cuts what the configuration asks for). The error:
/// the limit cannot hold even the reserves.
pub fn plan(wanted: Wanted) -> Result<Budget, BudgetError> {
    let limits = raise_soft_limit().unwrap_or_else(|e| {
        tracing::warn!(error = %e, assumed = FALLBACK_LIMIT, "assuming the usual descriptor limit");
        Limits {
            before: FALLBACK_LIMIT,
            soft: FALLBACK_LIMIT,
            hard: FALLBACK_LIMIT,
        }
    });
    let budget = Budget::from_limit(limits.soft, wanted)?;
    tracing::info!(
        limit = budget.limit,
        raised_from = limits.before,
        hard = limits.hard,
        p2p_outbound = budget.p2p_outbound,
        p2p_inbound = budget.p2p_inbound,
        handshakes = budget.handshakes,
        http_connections = budget.http_connections,
        "descriptor budget"
    );
    if budget.cuts(&wanted) {
        tracing::warn!(
            max_outbound = wanted.p2p_outbound,
            max_inbound = wanted.p2p_inbound,
            max_http_connections = wanted.http_connections,
            "the descriptor limit is too low for the configured connections, so fewer are \
             allowed; raise the hard limit (docs/operating.md)"
        );
    }
    Ok(budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the default configuration asks for.
    const DEFAULTS: Wanted = Wanted {
        p2p_outbound: crate::p2p::DEFAULT_MAX_OUTBOUND,
        p2p_inbound: crate::p2p::DEFAULT_MAX_INBOUND,
        handshakes: crate::p2p::DEFAULT_MAX_INBOUND * crate::p2p::HANDSHAKES_PER_INBOUND,
        http_connections: crate::http::DEFAULT_MAX_CONNECTIONS,
    };
    const RESERVED: u64 = OTHER_RESERVE + STORE_RESERVE;

    fn used(b: &Budget) -> u64 {
        RESERVED
            + [
                b.p2p_outbound,
                b.p2p_inbound,
                b.handshakes,
                b.http_connections,
            ]
            .iter()
            .map(|&n| wide(n))
            .sum::<u64>()
    }

    fn p2p(w: &Wanted) -> u64 {
        wide(w.p2p_outbound + w.p2p_inbound + w.handshakes)
    }

    #[test]
    fn a_roomy_limit_gives_everything_asked() {
        let b = Budget::from_limit(65_536, DEFAULTS).unwrap();
        assert_eq!(b.limit, 65_536);
        assert_eq!(
            (
                b.p2p_outbound,
                b.p2p_inbound,
                b.handshakes,
                b.http_connections
            ),
            (8, 32, 64, DEFAULTS.http_connections)
        );
        assert!(!b.cuts(&DEFAULTS));
    }

    #[test]
    fn the_common_1024_keeps_p2p_whole_and_gives_http_the_rest() {
        let b = Budget::from_limit(1024, DEFAULTS).unwrap();
        assert_eq!((b.p2p_outbound, b.p2p_inbound, b.handshakes), (8, 32, 64));
        let rest = 1024 - RESERVED - p2p(&DEFAULTS);
        assert_eq!(wide(b.http_connections), rest);
        assert!(b.http_connections < DEFAULTS.http_connections && b.cuts(&DEFAULTS));
        assert_eq!(used(&b), 1024);
    }

    #[test]
    fn p2p_is_served_before_http() {
        // 512: P2P still whole, HTTP gets the 72 left.
        let b = Budget::from_limit(512, DEFAULTS).unwrap();
        assert_eq!((b.p2p_outbound, b.p2p_inbound, b.handshakes), (8, 32, 64));
        assert_eq!(wide(b.http_connections), 512 - RESERVED - p2p(&DEFAULTS));
        // Asking for fewer HTTP connections than fit gives exactly those.
        let few = Wanted {
            http_connections: 10,
            ..DEFAULTS
        };
        assert_eq!(Budget::from_limit(512, few).unwrap().http_connections, 10);
        // A seed asking for many inbound peers takes the room from HTTP, down to its minimum.
        let seed = Wanted {
            p2p_inbound: 1000,
            handshakes: 2000,
            ..DEFAULTS
        };
        let b = Budget::from_limit(512, seed).unwrap();
        assert_eq!(b.p2p_outbound, 8);
        // Inbound and handshakes share what is left in the proportion asked (1 : 2).
        let shared = 512 - RESERVED - 8 - wide(MIN_HTTP_CONNECTIONS);
        assert_eq!(wide(b.p2p_inbound), shared / 3);
        assert_eq!(wide(b.handshakes), shared * 2 / 3);
        // HTTP keeps its minimum, and the descriptor the rounding left over.
        let http = b.http_connections;
        assert!(
            (MIN_HTTP_CONNECTIONS..=MIN_HTTP_CONNECTIONS + 1).contains(&http),
            "{b:?}"
        );
        assert_eq!(used(&b), 512);
    }

    #[test]
    fn at_the_floor_every_part_still_gets_something() {
        let floor = RESERVED + MIN_CONNECTIONS;
        let b = Budget::from_limit(floor, DEFAULTS).unwrap();
        assert_eq!(b.p2p_outbound, 8);
        // 16 - 4 for HTTP - 8 outbound = 4, shared 1 : 2.
        assert_eq!((b.p2p_inbound, b.handshakes), (1, 2));
        assert_eq!(b.http_connections, 5);
        assert_eq!(used(&b), floor);
    }

    #[test]
    fn a_limit_below_the_reserves_is_a_typed_error() {
        let needed = RESERVED + MIN_CONNECTIONS;
        for limit in [0, 64, 256, needed - 1] {
            assert_eq!(
                Budget::from_limit(limit, DEFAULTS),
                Err(BudgetError::TooSmall { limit, needed })
            );
        }
        // The store alone may keep 256 files open: 256 is too few.
        let message = Budget::from_limit(256, DEFAULTS).unwrap_err().to_string();
        assert!(
            message.contains("256") && message.contains("LimitNOFILE"),
            "{message}"
        );
        assert!(Budget::from_limit(needed, DEFAULTS).is_ok());
    }

    #[test]
    fn no_budget_exceeds_the_limit_or_what_was_asked() {
        let asks = [
            DEFAULTS,
            Wanted {
                p2p_outbound: 0,
                p2p_inbound: 0,
                handshakes: 0,
                http_connections: 0,
            },
            Wanted {
                p2p_outbound: 3,
                p2p_inbound: 7,
                handshakes: 1,
                http_connections: 2,
            },
            Wanted {
                p2p_outbound: usize::MAX,
                p2p_inbound: usize::MAX,
                handshakes: usize::MAX,
                http_connections: usize::MAX,
            },
        ];
        let floor = RESERVED + MIN_CONNECTIONS;
        for w in asks {
            for limit in (floor..5_000).step_by(13).chain([1 << 20, u64::MAX]) {
                let b = Budget::from_limit(limit, w).unwrap();
                assert!(used(&b) <= limit, "{limit} {w:?} {b:?}");
                assert!(b.p2p_outbound <= w.p2p_outbound, "{limit} {w:?} {b:?}");
                assert!(b.p2p_inbound <= w.p2p_inbound, "{limit} {w:?} {b:?}");
                assert!(b.handshakes <= w.handshakes, "{limit} {w:?} {b:?}");
                assert!(
                    b.http_connections <= w.http_connections,
                    "{limit} {w:?} {b:?}"
                );
                let http_floor = w.http_connections.min(MIN_HTTP_CONNECTIONS);
                assert!(b.http_connections >= http_floor, "{limit} {w:?} {b:?}");
                assert!(
                    b.p2p_inbound == 0 || b.handshakes > 0,
                    "{limit} {w:?} {b:?}"
                );
                // More descriptors never give P2P fewer.
                let more = Budget::from_limit(limit.saturating_add(100), w).unwrap();
                assert!(more.p2p_outbound >= b.p2p_outbound, "{limit} {w:?}");
                assert!(more.p2p_inbound >= b.p2p_inbound, "{limit} {w:?}");
                assert!(more.handshakes >= b.handshakes, "{limit} {w:?}");
            }
        }
    }

    #[test]
    fn the_soft_limit_is_raised_toward_the_hard_one() {
        let limits = raise_soft_limit().unwrap();
        assert!(limits.soft >= limits.before);
        assert!(limits.soft <= limits.hard);
        let expect = limits.hard.min(to_u64(RAISE_TO)).max(limits.before);
        assert_eq!(limits.soft, expect, "{limits:?}");
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(to_u64(soft), limits.soft);
    }
}
