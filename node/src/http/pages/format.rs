//! How the explorer's pages write values: amounts in coins with the chain's decimals, times in
//! UTC and as an age, and long ids shortened for tables. Pure functions, tested here.

/// `units` base units as coins with `decimals` decimals, thousands grouped, trailing zeros of
/// the fraction dropped: `1,234.5`, `0.00000001`, `7`.
pub fn coins(units: u128, decimals: u8) -> String {
    let (whole, frac) = split(units, decimals);
    format!("{}{frac}", grouped(whole))
}

/// Like [`coins`] without grouping, for files read by programs: `1234.5`.
pub fn decimal(units: u128, decimals: u8) -> String {
    let (whole, frac) = split(units, decimals);
    format!("{whole}{frac}")
}

/// The whole coins and the fraction as written (`""` or `.` and its digits).
fn split(units: u128, decimals: u8) -> (u128, String) {
    let scale = 10u128.checked_pow(u32::from(decimals)).unwrap_or(u128::MAX);
    let (whole, frac) = (units / scale, units % scale);
    if frac == 0 {
        return (whole, String::new());
    }
    let digits = format!("{frac:0width$}", width = usize::from(decimals));
    (whole, format!(".{}", digits.trim_end_matches('0')))
}

/// A signed amount of base units (a pending delta) as coins with its sign.
pub fn signed_coins(units: i128, decimals: u8) -> String {
    let text = coins(units.unsigned_abs(), decimals);
    match units.signum() {
        1 => format!("+{text}"),
        -1 => format!("\u{2212}{text}"),
        _ => text,
    }
}

/// `n` with a comma between groups of three digits.
pub fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (the usual era arithmetic: 400
/// years are 146,097 days, and a year counted from March puts the leap day last).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// How long before `now` the time `then` was: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`;
/// a time ahead of `now` (a miner's clock) is `in 4 s`.
pub fn age(now: u64, then: u64) -> String {
    let (span, ahead) = if then > now {
        (then - now, true)
    } else {
        (now - then, false)
    };
    let text = match span {
        0..60 => format!("{span} s"),
        60..3_600 => format!("{} min", span / 60),
        3_600..86_400 => format!("{} h", span / 3_600),
        _ => format!("{} d", span / 86_400),
    };
    if ahead {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A duration in seconds with one decimal: `61.5 s`.
pub fn seconds(secs: f64) -> String {
    format!("{secs:.1} s")
}

/// A rate of hashes per second with an SI prefix: `1.23 MH/s`.
pub fn hashrate(per_sec: f64) -> String {
    let prefixes = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"];
    let mut v = per_sec.max(0.0);
    let mut i = 0;
    while v >= 1000.0 && i + 1 < prefixes.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.2} {}H/s", prefixes[i])
}

/// The first and last 8 characters of a long id, for tables (the full id stays in the link).
pub fn short(id: &str) -> String {
    if id.len() <= 20 || !id.is_ascii() {
        return id.to_owned();
    }
    format!("{}\u{2026}{}", &id[..8], &id[id.len() - 8..])
}

/// Bytes as `812 B`, `15.2 kB`, `1.50 MB` (decimal units).
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.2} MB", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coins_use_the_chains_decimals_and_drop_trailing_zeros() {
        assert_eq!(coins(0, 8), "0");
        assert_eq!(coins(1, 8), "0.00000001");
        assert_eq!(coins(123_450_000_000, 8), "1,234.5");
        assert_eq!(coins(5_000_000_000, 8), "50");
        assert_eq!(coins(1_000_000, 0), "1,000,000");
        assert_eq!(coins(u128::from(u64::MAX), 8), "184,467,440,737.09551615");
        assert_eq!(decimal(123_450_000_000, 8), "1234.5");
        assert_eq!(decimal(7, 0), "7");
        assert_eq!(signed_coins(-150_000_000, 8), "\u{2212}1.5");
        assert_eq!(signed_coins(1, 2), "+0.01");
        assert_eq!(signed_coins(0, 2), "0");
    }

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 (a leap day of a century year) and the day after.
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(951_868_799), "2000-02-29 23:59:59 UTC");
        assert_eq!(utc(951_868_800), "2000-03-01 00:00:00 UTC");
        // 2100 is not a leap year.
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00:00 UTC");
        assert_eq!(utc(1_796_283_077), "2026-12-03 07:31:17 UTC");
    }

    #[test]
    fn ages_round_down_to_their_unit_and_say_which_side_of_now() {
        assert_eq!(age(100, 100), "0 s ago");
        assert_eq!(age(159, 100), "59 s ago");
        assert_eq!(age(160, 100), "1 min ago");
        assert_eq!(age(100 + 3_599, 100), "59 min ago");
        assert_eq!(age(100 + 7_200, 100), "2 h ago");
        assert_eq!(age(100 + 86_400 * 3, 100), "3 d ago");
        assert_eq!(age(100, 104), "in 4 s");
    }

    #[test]
    fn rates_sizes_and_short_ids() {
        assert_eq!(hashrate(999.0), "999.00 H/s");
        assert_eq!(hashrate(1_234_567.0), "1.23 MH/s");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(15_200), "15.2 kB");
        assert_eq!(bytes(1_500_000), "1.50 MB");
        let id = "00ab".repeat(16);
        assert_eq!(short(&id), "00ab00ab\u{2026}00ab00ab");
        assert_eq!(short("short"), "short");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(999), "999");
    }
}
