//! Why an attempt failed, in a form that serves the logs, `queue show`, the
//! retry decision and the bounce alike, and that survives the trip through
//! the envelope's `last_error` text (a bounce at expiry is written from it).
//!
//! `last_error` forms:
//! - a reply: `5.1.1 host mx.remote.test[192.0.2.5] said: 550 5.1.1 no such user (in reply to RCPT TO)`
//! - a local reason: `4.4.1 connect to 192.0.2.5:25: Connection refused`
//!
//! The first word is always the RFC 3463 status, so the class (4 retry, 5
//! give up) is never lost.

use std::fmt;

use portcullis_smtp::reply::Enhanced;
use portcullis_smtp::Reply;

/// An RFC 3463 status code `class.subject.detail`.
pub type Status = Enhanced;

/// One recipient's failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// RFC 3463 status; class 4 is temporary, 5 permanent.
    pub status: Status,
    /// The remote host that answered, as `name[ip]`, when a reply decided.
    pub remote: Option<String>,
    /// The reply on one line (`550 5.1.1 no such user`), when a reply decided.
    pub reply: Option<String>,
    /// With a reply: the command it answered (`RCPT TO`). Without: what
    /// went wrong locally (`connect to 192.0.2.5:25: Connection refused`).
    pub detail: String,
}

impl Failure {
    /// A failure decided here, without a remote reply.
    pub fn local(status: (u8, u16, u16), detail: impl Into<String>) -> Failure {
        Failure {
            status: Enhanced(status.0, status.1, status.2),
            remote: None,
            reply: None,
            detail: one_line(&detail.into()),
        }
    }

    /// A failure decided by `reply` from `remote` to `command`. The status
    /// is the reply's enhanced code, else `class.0.0` from its code (a
    /// code outside 4xx/5xx counts as temporary: it was unexpected).
    pub fn from_reply(remote: &str, reply: &Reply, command: &str) -> Failure {
        let class = match reply.code / 100 {
            5 => 5,
            _ => 4,
        };
        let status = match reply.enhanced {
            Some(e) if e.0 == class => e,
            _ => Enhanced(class, 0, 0),
        };
        Failure {
            status,
            remote: Some(one_line(remote)),
            reply: Some(reply_line(reply)),
            detail: one_line(command),
        }
    }

    /// Permanent (class 5): bounce now, never retry.
    pub fn is_permanent(&self) -> bool {
        self.status.0 == 5
    }

    /// The same failure made permanent (the lifetime is over): the status
    /// class becomes 5 and the reason says so, keeping the last error.
    pub fn expired(&self) -> Failure {
        Failure {
            status: Enhanced(5, 4, 7),
            remote: self.remote.clone(),
            reply: self.reply.clone(),
            detail: if self.reply.is_some() {
                self.detail.clone()
            } else {
                format!("delivery time expired; last error: {}", self.detail)
            },
        }
    }

    /// The text stored in the envelope's `last_error`.
    pub fn to_last_error(&self) -> String {
        self.to_string()
    }

    /// Reads a `last_error` back. Text that is not in either form (an
    /// envelope from elsewhere) becomes a temporary local failure with the
    /// text as its detail, so nothing is lost.
    pub fn from_last_error(text: &str) -> Failure {
        let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
        let Some(status) = parse_status(first) else {
            return Failure::local((4, 0, 0), text);
        };
        if let Some(after_host) = rest.strip_prefix("host ") {
            if let Some((remote, said)) = after_host.split_once(" said: ") {
                if let Some((reply, command)) = said
                    .rsplit_once(" (in reply to ")
                    .and_then(|(r, c)| Some((r, c.strip_suffix(')')?)))
                {
                    return Failure {
                        status,
                        remote: Some(remote.to_string()),
                        reply: Some(reply.to_string()),
                        detail: command.to_string(),
                    };
                }
            }
        }
        Failure {
            status,
            remote: None,
            reply: None,
            detail: rest.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.remote, &self.reply) {
            (Some(remote), Some(reply)) => write!(
                f,
                "{} host {remote} said: {reply} (in reply to {})",
                self.status, self.detail
            ),
            _ => write!(f, "{} {}", self.status, self.detail),
        }
    }
}

/// A reply on one line: code, enhanced code, the lines joined by spaces.
pub fn reply_line(reply: &Reply) -> String {
    let mut s = reply.code.to_string();
    if let Some(e) = reply.enhanced {
        s.push_str(&format!(" {e}"));
    }
    for line in &reply.lines {
        if !line.is_empty() {
            s.push(' ');
            s.push_str(line);
        }
    }
    one_line(&s)
}

/// `d.d.d` with class 2, 4 or 5 (RFC 3463 §2).
fn parse_status(s: &str) -> Option<Status> {
    let mut parts = s.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
        return None;
    }
    Some(Enhanced(class, subject, detail))
}

/// Control characters out (the text goes into envelopes, logs and bounce
/// headers, where a line break would forge a field), and a length bound.
fn one_line(s: &str) -> String {
    const MAX: usize = 900;
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX {
        let mut cut = MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_failure_round_trips_through_last_error() {
        let reply = Reply::new(550, (5, 1, 1), "<bob@remote.test>: no such user");
        let f = Failure::from_reply("mx.remote.test[192.0.2.5]", &reply, "RCPT TO");
        let text = f.to_last_error();
        assert_eq!(
            text,
            "5.1.1 host mx.remote.test[192.0.2.5] said: 550 5.1.1 <bob@remote.test>: no such user (in reply to RCPT TO)"
        );
        assert_eq!(Failure::from_last_error(&text), f);
        assert!(f.is_permanent());
    }

    #[test]
    fn a_local_failure_round_trips() {
        let f = Failure::local((4, 4, 1), "connect to 192.0.2.5:25: Connection refused");
        assert_eq!(
            f.to_last_error(),
            "4.4.1 connect to 192.0.2.5:25: Connection refused"
        );
        assert_eq!(Failure::from_last_error(&f.to_last_error()), f);
        assert!(!f.is_permanent());
    }

    #[test]
    fn the_status_comes_from_the_reply_or_its_class() {
        let f = Failure::from_reply("h[ip]", &Reply::plain(451, "busy"), "DATA");
        assert_eq!(f.status, Enhanced(4, 0, 0));
        // An enhanced code of the wrong class is not believed.
        let r = Reply::new(550, (4, 2, 0), "odd");
        assert_eq!(
            Failure::from_reply("h", &r, "RCPT TO").status,
            Enhanced(5, 0, 0)
        );
        // An unexpected 2xx/3xx counts as temporary.
        let r = Reply::plain(354, "go on");
        assert!(!Failure::from_reply("h", &r, "MAIL FROM").is_permanent());
    }

    #[test]
    fn foreign_text_is_kept_as_a_temporary_failure() {
        let f = Failure::from_last_error("something odd happened");
        assert_eq!(f.status, Enhanced(4, 0, 0));
        assert_eq!(f.detail, "something odd happened");
    }

    #[test]
    fn expiry_makes_it_permanent_and_keeps_the_reason() {
        let f = Failure::local((4, 4, 1), "connect to x: refused").expired();
        assert!(f.is_permanent());
        assert_eq!(
            f.to_last_error(),
            "5.4.7 delivery time expired; last error: connect to x: refused"
        );
    }

    #[test]
    fn line_breaks_cannot_reach_the_stored_text() {
        let r = Reply::plain(550, "a\r\nb");
        let f = Failure::from_reply("h\nx", &r, "RCPT TO");
        assert!(!f.to_last_error().contains(['\r', '\n']));
        let long = "x".repeat(5000);
        assert!(Failure::local((4, 0, 0), long).detail.len() < 1000);
    }
}
