//! ASERT against the published aserti3-2d vectors and Bitcoin Cash Node's unit-test cases.

use ferrite_core::asert::next_target;
use ferrite_core::Target;

const SPACING: u64 = 600;
const HALF_LIFE: u64 = 172_800;

fn bits(b: u32) -> Target {
    Target::from_compact(b).unwrap()
}

fn limit() -> Target {
    bits(0x1d00_ffff)
}

fn header_value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .filter_map(|l| l.strip_prefix("##"))
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("missing {key}"))
}

fn parse_hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn published_vectors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/asert");
    let mut files = 0;
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("run") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let anchor_height: u64 = header_value(&text, "anchor height").parse().unwrap();
        let anchor_parent_time: i64 = header_value(&text, "anchor ancestor time").parse().unwrap();
        let anchor_bits = parse_hex(header_value(&text, "anchor nBits"));
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            let height: u64 = f[1].parse().unwrap();
            let time: i64 = f[2].parse().unwrap();
            let expected = parse_hex(f[3]);
            let got = next_target(
                bits(anchor_bits),
                time - anchor_parent_time,
                height - anchor_height,
                SPACING,
                HALF_LIFE,
                limit(),
            )
            .to_compact();
            assert_eq!(got, expected, "{name}: {line}");
            lines += 1;
        }
        files += 1;
    }
    assert_eq!(files, 10);
    assert!(lines > 1_000, "only {lines} vector lines");
}

/// Bitcoin Cash Node pow_tests.cpp: anchor (nBits, time diff, height diff) -> next nBits.
#[test]
fn bchn_unit_cases() {
    let cases: &[(u32, i64, u64, u32)] = &[
        (0x1802_36e1, 600, 0, 0x1802_36e1),
        (0x1802_3456, 0, 0, 0x1802_32fd),
        (0x1802_10fe, 600, 0, 0x1802_10fe),
        (0x1803_4567, 86_400 * 90, 0, 0x1d00_ffff),
        (0x1803_4567, 1_200, 1, 0x1803_4567),
        (0x1801_1111, -2_499, 0, 0x1801_0db3),
    ];
    for &(anchor, dt, dh, expected) in cases {
        let got = next_target(bits(anchor), dt, dh, SPACING, HALF_LIFE, limit()).to_compact();
        assert_eq!(got, expected, "{anchor:#x} {dt} {dh}");
    }
    // Time difference 0 over (256-33)*2*144 blocks drives the target to the minimum, 1.
    let min = next_target(
        limit(),
        0,
        2 * (256 - 33) * 144,
        SPACING,
        HALF_LIFE,
        limit(),
    );
    assert_eq!(min.to_compact(), 0x0101_0000);
    // A huge positive exponent clamps to the limit without overflowing.
    let max = next_target(
        limit(),
        600 + 512 * 144 * 600,
        0,
        SPACING,
        HALF_LIFE,
        limit(),
    );
    assert_eq!(max.to_compact(), 0x1d00_ffff);
}
