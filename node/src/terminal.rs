//! How sync progress ([`crate::progress`]) is shown: as a progress bar on standard error when a
//! person watches it (a terminal, text logs), otherwise as `catching up` log lines that a log
//! collector keeps. `caught up` is always logged. [`LogWriter`] is the log's writer: it lifts
//! the bar out of the way of each log line, so the two never garble each other.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::{human, Progress, Report};

static BAR_WANTED: AtomicBool = AtomicBool::new(false);
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The bar's layout: height of best header, a bar, and the rates.
const BAR_TEMPLATE: &str = "catching up {pos}/{len} [{bar:20}] {percent}% {msg}";

/// Shows progress as a bar from now on (the caller checked that standard error is a
/// terminal and the logs are text).
pub fn use_bar() {
    BAR_WANTED.store(true, Ordering::SeqCst);
}

/// Shows one report of the sync tracker.
pub fn show(report: &Report) {
    match report {
        Report::Progress(p) if BAR_WANTED.load(Ordering::SeqCst) => draw(p),
        Report::Progress(p) => tracing::info!(
            height = p.height,
            best = p.best,
            percent = (p.percent * 10.0).round() / 10.0,
            blocks_per_sec = p.blocks_per_sec.round(),
            transfers_per_sec = p.txs_per_sec.round(),
            left = p.left.map(human).unwrap_or_else(|| "unknown".into()),
            "catching up"
        ),
        Report::CaughtUp {
            height,
            blocks,
            txs,
            took,
        } => {
            clear();
            tracing::info!(
                height,
                blocks,
                transfers = txs,
                took = human(*took),
                "caught up"
            );
        }
    }
}

/// Removes the bar (at a sync's end or the node's).
pub fn clear() {
    let bar = lock().take();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

fn draw(p: &Progress) {
    let mut slot = lock();
    let bar = slot.get_or_insert_with(|| {
        let style = ProgressStyle::with_template(BAR_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        ProgressBar::new(p.best).with_style(style)
    });
    bar.set_length(p.best);
    bar.set_position(p.height);
    bar.set_message(format!(
        "{:.0} blocks/s {:.0} tx/s, {} left",
        p.blocks_per_sec,
        p.txs_per_sec,
        p.left.map(human).unwrap_or_else(|| "?".into())
    ));
}

fn lock() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    BAR.lock().unwrap_or_else(|p| p.into_inner())
}

/// Standard error for the log, drawn around the bar when one is shown.
pub struct LogWriter;

impl LogWriter {
    /// For `tracing_subscriber::fmt().with_writer(LogWriter::new)`.
    pub fn new() -> Self {
        LogWriter
    }
}

impl Default for LogWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A clone, so that the lock is not held while writing (the bar's own drawing takes it
        // only in `show`, which logs with the lock released).
        let bar = lock().clone();
        match bar {
            Some(bar) => bar
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
