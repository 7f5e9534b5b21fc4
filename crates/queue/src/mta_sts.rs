//! MTA-STS (RFC 8461), the pure part: the `_mta-sts` TXT record, the policy
//! file, and which MX hosts a policy names. Fetching and caching live in
//! the server.

use std::fmt;

/// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// What a policy asks of senders (RFC 8461 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to named MX hosts over validated TLS.
    Enforce,
    /// Report what would fail, deliver as usual.
    Testing,
    /// No policy (a domain withdrawing its policy).
    None,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        })
    }
}

/// A parsed policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `mode`.
    pub mode: Mode,
    /// `mx` patterns, lower case: `mx.example.com` or `*.example.com`.
    pub mx: Vec<String>,
    /// `max_age`, seconds (capped at [`MAX_AGE_LIMIT`]).
    pub max_age: u64,
}

/// The `id` of a `_mta-sts` TXT record set (RFC 8461 §3.1). `Ok(None)`: no
/// record starts with `v=STSv1` (no policy). Several STSv1 records are an
/// error: the RFC says to treat that as no policy.
pub fn record_id(records: &[String]) -> Result<Option<String>, String> {
    let sts: Vec<&String> = records
        .iter()
        .filter(|r| r.trim_start().starts_with("v=STSv1"))
        .collect();
    let record = match sts.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(format!("{} STSv1 TXT records (must be one)", sts.len())),
    };
    for field in record.split(';').skip(1) {
        let Some((name, value)) = field.trim().split_once('=') else {
            continue;
        };
        if name.trim() == "id" {
            let id = value.trim();
            // §3.1: id is 1 to 32 letters and digits.
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "TXT record id \"{id}\" is not 1-32 letters or digits"
                ));
            }
            return Ok(Some(id.to_string()));
        }
    }
    Err(format!("TXT record \"{record}\" has no id"))
}

/// Parses a policy file (RFC 8461 §3.2): `key: value` lines, CRLF or LF.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("policy line \"{line}\" is not \"key: value\""));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => {
                        return Err(format!(
                            "policy mode \"{other}\" is not enforce, testing or none"
                        ))
                    }
                })
            }
            "max_age" => {
                let secs: u64 = value
                    .parse()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        format!("policy max_age \"{value}\" is not a number of seconds")
                    })?;
                max_age = Some(secs.min(MAX_AGE_LIMIT));
            }
            "mx" => mx.push(check_pattern(value)?),
            // §3.2: unknown fields are ignored.
            _ => {}
        }
    }
    match version.as_deref() {
        Some("STSv1") => {}
        Some(v) => return Err(format!("policy version \"{v}\" is not STSv1")),
        None => return Err("policy has no version field".into()),
    }
    let mode = mode.ok_or("policy has no mode field")?;
    let max_age = max_age.ok_or("policy has no max_age field")?;
    if mx.is_empty() && mode != Mode::None {
        return Err(format!("policy in mode {mode} names no mx"));
    }
    Ok(Policy { mode, mx, max_age })
}

fn check_pattern(value: &str) -> Result<String, String> {
    let p = value.trim_end_matches('.').to_ascii_lowercase();
    let host = p.strip_prefix("*.").unwrap_or(&p);
    let ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(p)
    } else {
        Err(format!(
            "policy mx \"{value}\" is not a host name or *.domain pattern"
        ))
    }
}

impl Policy {
    /// Whether `host` (an MX name) is named by the policy (RFC 8461 §4.1):
    /// equal, or `*.suffix` where the wildcard stands for exactly one label.
    pub fn names(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
            None => *p == host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn the_rfc_example_parses() {
        let p = parse_policy(GOOD).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604800);
        assert_eq!(p.mx.len(), 3);
        assert!(p.names("mail.example.com"));
        assert!(p.names("MAIL.Example.com."));
        assert!(p.names("mx1.example.net"));
        assert!(!p.names("example.net"), "the wildcard needs one label");
        assert!(
            !p.names("a.b.example.net"),
            "the wildcard is one label only"
        );
        assert!(!p.names("mx.evil.test"));
    }

    #[test]
    fn lf_line_ends_unknown_fields_and_a_huge_max_age_are_fine() {
        let p = parse_policy(
            "version: STSv1\nmode: testing\nmx: mx.a.test\nfoo: bar\nmax_age: 99999999999\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Testing);
        assert_eq!(p.max_age, MAX_AGE_LIMIT);
    }

    #[test]
    fn bad_policies_get_an_error_naming_the_value() {
        let cases = [
            (
                "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
                "version \"STSv2\"",
            ),
            ("mode: enforce\nmx: a.test\nmax_age: 1\n", "no version"),
            (
                "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
                "mode \"strict\"",
            ),
            ("version: STSv1\nmx: a.test\nmax_age: 1\n", "no mode"),
            (
                "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5\n",
                "max_age \"-5\"",
            ),
            ("version: STSv1\nmode: enforce\nmx: a.test\n", "no max_age"),
            ("version: STSv1\nmode: enforce\nmax_age: 5\n", "names no mx"),
            (
                "version: STSv1\nmode: enforce\nmx: *.\nmax_age: 5\n",
                "mx \"*.\"",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a b.test\nmax_age: 5\n",
                "mx \"a b.test\"",
            ),
            ("<html>hello</html>\n", "not \"key: value\""),
        ];
        for (text, want) in cases {
            let err = parse_policy(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 5\n").is_ok());
    }

    #[test]
    fn txt_records() {
        let r = |v: &[&str]| record_id(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            r(&["v=STSv1; id=20160831085700Z;"]),
            Ok(Some("20160831085700Z".into()))
        );
        assert_eq!(r(&["v=spf1 -all"]), Ok(None));
        assert_eq!(r(&[]), Ok(None));
        assert!(r(&["v=STSv1; id=a", "v=STSv1; id=b"])
            .unwrap_err()
            .contains("2 STSv1"));
        assert!(r(&["v=STSv1; id=bad-id"])
            .unwrap_err()
            .contains("\"bad-id\""));
        assert!(r(&["v=STSv1;"]).unwrap_err().contains("no id"));
    }
}
