//! What the server offers, read from its EHLO reply (RFC 5321 §4.1.1.1: the
//! first line is the greeting, each further line one keyword with optional
//! parameters; keywords are case-insensitive).

use crate::reply::Reply;

/// The ESMTP extensions the client cares about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// SIZE (RFC 1870): `Some(n)` when the server announced a fixed limit
    /// `n > 0`; `SIZE` alone or `SIZE 0` means no fixed limit (`None`).
    pub size_limit: Option<u64>,
    /// Whether SIZE was announced at all (the `SIZE=` parameter may be sent).
    pub size: bool,
    /// 8BITMIME (RFC 6152).
    pub eightbitmime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// AUTH (RFC 4954): the mechanisms, upper-case, in the server's order.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Reads the keywords of a positive EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            // Some old servers announce `AUTH=PLAIN LOGIN` as well.
            if let Some(first) = keyword.strip_prefix("AUTH=") {
                caps.add_auth(std::iter::once(first).chain(words.by_ref()));
                continue;
            }
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eightbitmime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "SIZE" => {
                    caps.size = true;
                    caps.size_limit = words
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|&n| n > 0);
                }
                "AUTH" => caps.add_auth(words.by_ref()),
                _ => {}
            }
        }
        caps
    }

    fn add_auth<'a>(&mut self, mechanisms: impl Iterator<Item = &'a str>) {
        for m in mechanisms {
            let m = m.to_ascii_uppercase();
            if !self.auth.contains(&m) {
                self.auth.push(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(lines: &[&str]) -> Capabilities {
        Capabilities::from_ehlo(&Reply::multiline(
            250,
            lines.iter().map(|s| s.to_string()).collect(),
        ))
    }

    #[test]
    fn a_typical_postfix_ehlo() {
        let c = caps(&[
            "mx.remote.test",
            "PIPELINING",
            "SIZE 10240000",
            "VRFY",
            "ETRN",
            "STARTTLS",
            "AUTH PLAIN LOGIN",
            "AUTH=PLAIN LOGIN",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
        ]);
        assert!(c.pipelining && c.starttls && c.eightbitmime && c.smtputf8);
        assert!(c.enhanced_status_codes && c.size);
        assert_eq!(c.size_limit, Some(10_240_000));
        assert_eq!(c.auth, ["PLAIN", "LOGIN"]);
    }

    #[test]
    fn keywords_are_case_insensitive_and_the_greeting_line_is_not_one() {
        let c = caps(&["PIPELINING greets you", "starttls", "auth login"]);
        assert!(!c.pipelining);
        assert!(c.starttls);
        assert_eq!(c.auth, ["LOGIN"]);
    }

    #[test]
    fn size_without_a_fixed_limit() {
        for lines in [&["mx", "SIZE"][..], &["mx", "SIZE 0"], &["mx", "SIZE junk"]] {
            let c = caps(lines);
            assert!(c.size);
            assert_eq!(c.size_limit, None, "{lines:?}");
        }
        assert!(!caps(&["mx"]).size);
    }
}
