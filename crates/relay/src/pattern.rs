//! The seed's dotted IPv4 patterns (`192.168.40.*`, `192.168.40-43.0-255`,
//! `192.168.40-43.*`) and their compilation into the fewest contiguous
//! ranges.
//!
//! A pattern is four octet ranges. Trailing octets that are whole (`*` or
//! `0-255`) collapse into the octet before them, so `192.168.40-43.*` is one
//! range (192.168.40.0-192.168.43.255). Each combination of the octets before
//! that is one more range: `1-254.1-254.1-254.1-254` would be 254³ ≈ 16
//! million ranges, which is why an entry needing more than
//! [`MAX_PATTERN_RANGES`] is refused with a hint to write CIDR blocks instead
//! (a table of a million entries stays small; one careless pattern must not
//! blow it up).

use super::entry_error::{EntryErrorKind, MAX_PATTERN_RANGES};
use super::range::IpRange;

/// One octet position of a pattern: `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Octet {
    pub(crate) lo: u8,
    pub(crate) hi: u8,
}

impl Octet {
    fn is_whole(self) -> bool {
        self.lo == 0 && self.hi == 255
    }

    fn width(self) -> u64 {
        u64::from(self.hi - self.lo) + 1
    }
}

/// Parses the four octets of a numeric-looking entry (digits, dots, `*`, `-`).
pub(crate) fn parse_pattern(body: &str) -> Result<[Octet; 4], EntryErrorKind> {
    // Counted first, without collecting: a wrong count is the error to
    // report even when an octet is bad too.
    let found = body.split('.').count();
    if found != 4 {
        return Err(EntryErrorKind::OctetCount { found });
    }
    let mut octets = [Octet { lo: 0, hi: 0 }; 4];
    for (slot, part) in octets.iter_mut().zip(body.split('.')) {
        *slot = parse_octet(part)?;
    }
    Ok(octets)
}

fn parse_octet(part: &str) -> Result<Octet, EntryErrorKind> {
    if part == "*" {
        return Ok(Octet { lo: 0, hi: 255 });
    }
    if part.is_empty() {
        return Err(EntryErrorKind::EmptyOctet);
    }
    match part.split_once('-') {
        None => {
            let n = parse_number(part)?;
            Ok(Octet { lo: n, hi: n })
        }
        Some((lo, hi)) => {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(lo) || !digits(hi) {
                return Err(EntryErrorKind::BadOctetRange {
                    part: part.to_string(),
                });
            }
            let (lo, hi) = (parse_number(lo)?, parse_number(hi)?);
            if lo > hi {
                return Err(EntryErrorKind::ReversedRange { lo, hi });
            }
            Ok(Octet { lo, hi })
        }
    }
}

/// One decimal octet value: digits only, 0-255, no leading zero.
fn parse_number(s: &str) -> Result<u8, EntryErrorKind> {
    // `*` only stands alone for a whole octet: `1-*` or `2*` mean nothing.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EntryErrorKind::BadOctetRange {
            part: s.to_string(),
        });
    }
    // `010` is octal 8 to inet_aton and decimal 10 to most readers: refuse the
    // ambiguity rather than guess which one the admin meant.
    if s.len() > 1 && s.starts_with('0') {
        return Err(EntryErrorKind::LeadingZero {
            octet: s.to_string(),
        });
    }
    match s.parse::<u16>() {
        Ok(n) if n <= 255 => Ok(n as u8),
        _ => Err(EntryErrorKind::OctetOver255 {
            octet: s.to_string(),
        }),
    }
}

/// Compiles four octet ranges into the fewest contiguous IPv4 ranges, in
/// ascending order, or says how many it would take when that is over
/// [`MAX_PATTERN_RANGES`].
pub(crate) fn compile_pattern(octets: &[Octet; 4]) -> Result<Vec<IpRange>, EntryErrorKind> {
    // `tail` = index of the octet that absorbs all the whole octets after it.
    let mut tail = 3;
    while tail > 0 && octets[tail].is_whole() {
        tail -= 1;
    }
    let count: u64 = octets[..tail].iter().map(|o| o.width()).product();
    if count > MAX_PATTERN_RANGES {
        return Err(EntryErrorKind::TooManyRanges { count });
    }
    let shift = 8 * (3 - tail as u32);
    let low_mask: u32 = if shift == 0 { 0 } else { (1u32 << shift) - 1 };
    let mut out = Vec::with_capacity(count as usize);
    // Enumerate the prefix octets (those before `tail`) like an odometer.
    let mut prefix: Vec<u8> = octets[..tail].iter().map(|o| o.lo).collect();
    loop {
        let mut base: u32 = 0;
        for (i, value) in prefix.iter().enumerate() {
            base |= u32::from(*value) << (24 - 8 * i as u32);
        }
        let t = octets[tail];
        let first = base | (u32::from(t.lo) << shift);
        let last = base | (u32::from(t.hi) << shift) | low_mask;
        out.push(IpRange::V4 { first, last });
        // Advance the odometer from the rightmost prefix octet.
        let mut i = tail;
        loop {
            if i == 0 {
                return Ok(out);
            }
            i -= 1;
            if prefix[i] < octets[i].hi {
                prefix[i] += 1;
                for j in i + 1..tail {
                    prefix[j] = octets[j].lo;
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn compile(s: &str) -> Vec<String> {
        let octets = parse_pattern(s).unwrap();
        compile_pattern(&octets)
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn trailing_whole_octets_collapse() {
        assert_eq!(compile("192.168.40-43.*"), ["192.168.40.0-192.168.43.255"]);
        assert_eq!(
            compile("192.168.40-43.0-255"),
            ["192.168.40.0-192.168.43.255"]
        );
        assert_eq!(compile("10.*.*.*"), ["10.0.0.0-10.255.255.255"]);
        assert_eq!(compile("*.*.*.*"), ["0.0.0.0-255.255.255.255"]);
        assert_eq!(compile("192.168.123.55"), ["192.168.123.55"]);
        assert_eq!(compile("192.168.1.10-20"), ["192.168.1.10-192.168.1.20"]);
    }

    #[test]
    fn inner_ranges_enumerate_in_order() {
        assert_eq!(
            compile("10.1-2.3.*"),
            ["10.1.3.0-10.1.3.255", "10.2.3.0-10.2.3.255"]
        );
        assert_eq!(compile("1-2.*.5.6"), compile_expanded_naively("1-2.*.5.6"),);
    }

    fn compile_expanded_naively(s: &str) -> Vec<String> {
        // Every address, merged into runs: the reference the compiler must equal.
        let o = parse_pattern(s).unwrap();
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for a in o[0].lo..=o[0].hi {
            for b in o[1].lo..=o[1].hi {
                for c in o[2].lo..=o[2].hi {
                    let lo = u32::from_be_bytes([a, b, c, o[3].lo]);
                    let hi = u32::from_be_bytes([a, b, c, o[3].hi]);
                    match runs.last_mut() {
                        Some(last) if last.1.checked_add(1) == Some(lo) => last.1 = hi,
                        _ => runs.push((lo, hi)),
                    }
                }
            }
        }
        runs.into_iter()
            .map(|(first, last)| IpRange::V4 { first, last }.to_string())
            .collect()
    }

    #[test]
    fn matches_naive_expansion() {
        for s in [
            "1.2.3.4",
            "1.2-3.4-5.6-7",
            "1.2.*.7",
            "1-3.4.*.*",
            "9.0-255.1.*",
            "0.0.0.0-1",
            "255.255.255.*",
        ] {
            assert_eq!(compile(s), compile_expanded_naively(s), "{s}");
        }
    }

    #[test]
    fn edges_of_seed_range() {
        let r = compile_pattern(&parse_pattern("192.168.40-43.0-255").unwrap()).unwrap();
        assert_eq!(
            r,
            [IpRange::V4 {
                first: ip("192.168.40.0"),
                last: ip("192.168.43.255")
            }]
        );
    }

    #[test]
    fn explosive_patterns_are_refused() {
        let o = parse_pattern("1-254.1-254.1-254.1-254").unwrap();
        assert_eq!(
            compile_pattern(&o),
            Err(EntryErrorKind::TooManyRanges {
                count: 254 * 254 * 254
            })
        );
        // 256 * 256 = 65,536: exactly the limit, still fine.
        let o = parse_pattern("10.*.*.1").unwrap();
        assert_eq!(compile_pattern(&o).unwrap().len(), 65_536);
        let o = parse_pattern("1-2.*.*.1").unwrap();
        assert!(compile_pattern(&o).is_err());
    }

    #[test]
    fn octet_errors() {
        assert_eq!(
            parse_pattern("192.168.300.*"),
            Err(EntryErrorKind::OctetOver255 {
                octet: "300".into()
            })
        );
        assert_eq!(
            parse_pattern("192.168.43-40.*"),
            Err(EntryErrorKind::ReversedRange { lo: 43, hi: 40 })
        );
        assert_eq!(
            parse_pattern("192.168.010.1"),
            Err(EntryErrorKind::LeadingZero {
                octet: "010".into()
            })
        );
        assert_eq!(parse_pattern("192.168..1"), Err(EntryErrorKind::EmptyOctet));
        assert_eq!(
            parse_pattern("192.168.*"),
            Err(EntryErrorKind::OctetCount { found: 3 })
        );
        assert_eq!(
            parse_pattern("1.2.3.4.5"),
            Err(EntryErrorKind::OctetCount { found: 5 })
        );
        assert!(matches!(
            parse_pattern("1.2.3-.4"),
            Err(EntryErrorKind::BadOctetRange { .. })
        ));
        assert!(matches!(
            parse_pattern("1.2.1-2-3.4"),
            Err(EntryErrorKind::BadOctetRange { .. })
        ));
        assert!(matches!(
            parse_pattern("1.2.1-*.4"),
            Err(EntryErrorKind::BadOctetRange { .. })
        ));
        assert!(matches!(
            parse_pattern("1.2.99999999999999999999.4"),
            Err(EntryErrorKind::OctetOver255 { .. })
        ));
    }
}
