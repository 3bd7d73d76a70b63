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

/// True once the reader of standard output is gone, checked without writing: a pipe whose
/// reader closed polls as an error or hang-up (a terminal or a file never does).
pub fn reader_left() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    if gone() {
        return true;
    }
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
    let left = poll(&mut fds, PollTimeout::ZERO).is_ok()
        && fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP));
    if left {
        GONE.store(true, Ordering::SeqCst);
    }
    left
}

/// `println!` for the binaries' output, through [`line`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
