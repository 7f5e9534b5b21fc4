//! Headers added on receipt: `Return-Path:` (local delivery, RFC 5321
//! §4.4), `Received:` (RFC 5321 §4.4, protocol names from RFC 3848), and
//! for authenticated submissions the missing `Date:` and `Message-ID:`
//! (RFC 6409 §8).

use std::net::IpAddr;
use std::time::SystemTime;

use portcullis_smtp::session::Message;
use portcullis_smtp::ReversePath;

/// What the `Received:` header says about the client.
pub(crate) struct ClientInfo<'a> {
    pub ip: IpAddr,
    /// The verified reverse-DNS name, when one was looked up.
    pub name: Option<&'a str>,
}

/// RFC 3848 protocol name: ESMTP, ESMTPS, ESMTPA, ESMTPSA (or SMTP after HELO).
pub(crate) fn protocol(msg: &Message) -> &'static str {
    match (msg.esmtp, msg.tls, msg.auth_user.is_some()) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    }
}

/// The `Received:` header, folded, ending in CRLF, dated `at`.
pub(crate) fn received(
    msg: &Message,
    client: &ClientInfo<'_>,
    hostname: &str,
    id: &str,
    at: SystemTime,
) -> String {
    let helo = sanitize(&msg.helo);
    let name = client.name.unwrap_or("unknown");
    let addr = match client.ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("IPv6:{a}"),
    };
    let mut h = format!(
        "Received: from {helo} ({name} [{addr}])\r\n\tby {hostname} (Portcullis) with {} id {id}",
        protocol(msg)
    );
    // Name the recipient only when there is one: listing several would
    // disclose Bcc recipients to each other.
    if let [only] = msg.recipients.as_slice() {
        h.push_str(&format!("\r\n\tfor <{}>", sanitize(&only.to_string())));
    }
    h.push_str(&format!("; {}\r\n", rfc5322_date(at)));
    h
}

/// RFC 6409 §8: the `Date:` and `Message-ID:` (`<queue id@hostname>`) an
/// authenticated user's message lacks, each ending in CRLF, to follow the
/// trace headers. `head` is the message's start, `whole` if it is all of
/// it; `at` is the time of receipt.
pub(crate) fn submission_fields(
    head: &[u8],
    whole: bool,
    hostname: &str,
    id: &str,
    at: SystemTime,
) -> String {
    let date = rfc5322_date(at);
    portcullis_smtp::submission::missing_fields(head, whole, &date, id, hostname)
}

/// `Return-Path: <sender>` (empty for the null sender), ending in CRLF.
pub(crate) fn return_path(from: &ReversePath) -> String {
    format!("Return-Path: <{}>\r\n", sanitize(&from.to_string()))
}

/// Client-chosen text goes into a header: no CR, LF or other control characters.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// RFC 5322 §3.3 date-time in UTC, e.g. `Sun, 22 Nov 2026 16:31:13 +0000`.
pub(crate) fn rfc5322_date(t: SystemTime) -> String {
    portcullis_queue::date::rfc5322(portcullis_store::clock::unix_secs(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_rfc5322() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_365_073);
        assert_eq!(rfc5322_date(t), "Sun, 22 Nov 2026 16:31:13 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
