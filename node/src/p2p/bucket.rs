//! A token bucket: the per-peer rate limits on messages, bytes and records.

use std::time::Instant;

/// Tokens refilled at `rate` per second up to `burst`; starts full.
#[derive(Debug)]
pub struct Bucket {
    level: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        Bucket {
            level: burst,
            rate,
            burst,
            at: Instant::now(),
        }
    }

    /// Takes `n` tokens; false when the bucket is empty.
    pub fn take(&mut self, n: f64) -> bool {
        let now = Instant::now();
        self.level =
            (self.level + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        self.level -= n;
        self.level >= 0.0
    }
}
