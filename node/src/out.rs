//! The binaries' standard output: the lines people and scripts read (the chain, the data dir,
//! addresses, the node id, committed blocks). A reader that went away (`ferrite-node --dev |
//! head -2`, Ctrl-C under `| tee`) is noted instead of panicking, so the node stops cleanly,
//! removes a throwaway data dir, and exits with [`EXIT_STDOUT_CLOSED`].

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status after standard output closed: 128 + SIGPIPE, as a process killed by the signal.
pub const EXIT_STDOUT_CLOSED: i32 = 141;

static GONE: AtomicBool = AtomicBool::new(false);

/// Writes one line to standard output; a failed write marks the output [`gone`].
pub fn line(args: std::fmt::Arguments<'_>) {
    if GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{args}").and_then(|()| out.flush()).is_err() {
        GONE.store(true, Ordering::SeqCst);
    }
}

/// True once a write to standard output failed (its reader is gone).
pub fn gone() -> bool {
    GONE.load(Ordering::SeqCst)
}

/// `println!` for the binaries' output, through [`line`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
