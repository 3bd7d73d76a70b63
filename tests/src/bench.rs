//! Helpers the benchmarks share: wrk runs with their figures parsed, and percentiles.

use std::process::Command;
use std::time::Duration;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct Wrk {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// Runs `wrk -t1 -c{conns} -d{secs}s --latency url` and parses its figures; `None` if wrk is
/// missing or printed something else.
pub fn wrk(url: &str, conns: u32, secs: u64) -> Option<Wrk> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let pct = |p: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .map(str::trim)
            .and_then(parse_wrk_time)
    };
    Some(Wrk {
        rps,
        p50_ms: pct("50%")?,
        p99_ms: pct("99%")?,
    })
}

/// The value of counter `name` with `label="value"` in a Prometheus text exposition (0 when
/// absent).
pub fn counter(text: &str, name: &str, label: &str, value: &str) -> u64 {
    let series = format!("{name}{{{label}=\"{value}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// `1.23ms`, `456.00us`, `1.02s` as milliseconds.
fn parse_wrk_time(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    match unit {
        "us" => Some(v / 1000.0),
        "ms" => Some(v),
        "s" => Some(v * 1000.0),
        "m" => Some(v * 60_000.0),
        _ => None,
    }
}

/// The upper bound of the histogram bucket holding the `q` quantile (0-1) of series `name` in
/// a Prometheus text exposition, and the sample count; `None` without samples.
pub fn histogram_quantile(text: &str, name: &str, q: f64) -> Option<(f64, u64)> {
    let bucket = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    let mut count = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&bucket) {
            let (le, n) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((le, n.trim().parse().ok()?));
        } else if let Some(n) = line.strip_prefix(&format!("{name}_count ")) {
            count = n.trim().parse::<u64>().ok();
        }
    }
    let count = count.filter(|c| *c > 0)?;
    let want = (q * count as f64).ceil() as u64;
    buckets
        .iter()
        .find(|(_, n)| *n >= want)
        .map(|(le, _)| (*le, count))
}

/// The `p`-th percentile (0-100) of `samples` (sorted in place).
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let i = ((samples.len() - 1) as f64 * p / 100.0).round() as usize;
    samples[i.min(samples.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_times_parse_in_every_unit() {
        assert_eq!(parse_wrk_time("456.00us"), Some(0.456));
        assert_eq!(parse_wrk_time("1.50ms"), Some(1.5));
        assert_eq!(parse_wrk_time("2.00s"), Some(2000.0));
        assert_eq!(parse_wrk_time("fast"), None);
    }

    #[test]
    fn histogram_quantiles_come_from_cumulative_buckets() {
        let text = "# TYPE x histogram\nx_sum 1.0\nx_count 100\nx_bucket{le=\"0.001\"} 50\n\
                    x_bucket{le=\"0.002\"} 98\nx_bucket{le=\"0.004\"} 100\nx_bucket{le=\"+Inf\"} 100\n";
        assert_eq!(histogram_quantile(text, "x", 0.5), Some((0.001, 100)));
        assert_eq!(histogram_quantile(text, "x", 0.99), Some((0.004, 100)));
        assert_eq!(histogram_quantile("x_count 0\n", "x", 0.5), None);
    }

    #[test]
    fn percentiles_pick_from_the_sorted_samples() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut v, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&mut v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&mut [], 99.0), Duration::ZERO);
    }
}
