//! Delivery status notifications (RFC 3464) sent back to the sender: a
//! `multipart/report; report-type=delivery-status` (RFC 6522) with a human
//! explanation, the machine-readable `message/delivery-status` part, and the
//! original message's headers (`text/rfc822-headers`), for a failure
//! (`Action: failed`) or a delay warning (`Action: delayed`).
//!
//! A DSN is sent from the null sender `<>` (RFC 5321 §4.5.5), so it can
//! never cause another one: the runner never bounces a message whose sender
//! is empty, and that is what stops bounce loops.

use portcullis_store::spool::{BodyType, Envelope};

use super::date;
use super::failure::Failure;

/// Which notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsnKind {
    /// The recipients failed for good.
    Failure,
    /// The recipients are still being retried until the given time.
    Delay {
        /// When the message expires (RFC 3464 `Will-Retry-Until`).
        until: u64,
    },
}

/// Everything a DSN says.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// This server's host name (`Reporting-MTA`, `From: MAILER-DAEMON@…`).
    pub reporting_mta: &'a str,
    /// The envelope of the message reported on.
    pub original: &'a Envelope,
    /// Its bytes (only the header section is copied into the DSN).
    pub message: &'a [u8],
    /// Failure or delay.
    pub kind: DsnKind,
    /// The recipients reported on, with their (last) failure.
    pub recipients: &'a [(String, Failure)],
    /// The time of the report (`Date`, `Last-Attempt-Date`).
    pub now: u64,
    /// The DSN's own queue id (Message-ID and MIME boundary).
    pub id: &'a str,
}

/// A composed DSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dsn {
    /// The message, CRLF line ends, ready to queue or deliver.
    pub bytes: Vec<u8>,
    /// Whether it holds 8-bit text (from the original headers): send with `BODY=8BITMIME`.
    pub eight_bit: bool,
}

/// The header section of `message`: everything up to and including the
/// first empty line's CRLF (the whole message if it has no body).
pub fn original_headers(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &[];
    }
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &message[..i + 2],
        None => message,
    }
}

/// Composes the DSN for `report`.
pub fn compose(report: &Report<'_>) -> Dsn {
    let host = clean(report.reporting_mta);
    let env = report.original;
    let boundary = format!("{}.{}/{host}", report.id, report.now);
    let headers = original_headers(report.message);
    let eight_bit = headers.iter().any(|&b| b >= 0x80);
    let cte = if eight_bit { "8bit" } else { "7bit" };
    let (subject, action) = match report.kind {
        DsnKind::Failure => ("Undelivered Mail Returned to Sender", "failed"),
        DsnKind::Delay { .. } => ("Delayed Mail (still being retried)", "delayed"),
    };

    let mut m = String::new();
    let mut line = |s: &str| {
        m.push_str(s);
        m.push_str("\r\n");
    };
    line(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>"
    ));
    line(&format!("To: <{}>", clean(&env.sender)));
    line(&format!("Subject: {subject}"));
    line(&format!("Date: {}", date::rfc5322(report.now)));
    line(&format!("Message-ID: <{}@{host}>", clean(report.id)));
    // RFC 3834 §5: a DSN is an automatic response; no vacation reply to it.
    line("Auto-Submitted: auto-replied");
    line("MIME-Version: 1.0");
    line("Content-Type: multipart/report; report-type=delivery-status;");
    line(&format!("\tboundary=\"{boundary}\""));
    line(&format!("Content-Transfer-Encoding: {cte}"));
    line("");
    line("This is a MIME-encapsulated message.");
    line("");

    // Part 1: for people.
    line(&format!("--{boundary}"));
    line("Content-Description: Notification");
    line("Content-Type: text/plain; charset=utf-8");
    line(&format!("Content-Transfer-Encoding: {cte}"));
    line("");
    line(&format!("This is the mail system at host {host}."));
    line("");
    match report.kind {
        DsnKind::Failure => {
            line("Your message could not be delivered to one or more recipients.");
            line("The reasons are below; the headers of your message are attached.");
        }
        DsnKind::Delay { until } => {
            line("Your message could not be delivered yet to the recipients below.");
            line(&format!(
                "Delivery will be retried until {}; you do not need to send it again.",
                date::rfc5322(until)
            ));
        }
    }
    line("");
    for (address, failure) in report.recipients {
        line(&format!("<{}>: {}", clean(address), human(failure)));
    }
    line("");

    // Part 2: for programs (RFC 3464 §2.2, §2.3).
    line(&format!("--{boundary}"));
    line("Content-Description: Delivery report");
    line("Content-Type: message/delivery-status");
    line("");
    line(&format!("Reporting-MTA: dns; {host}"));
    line(&format!("X-Portcullis-Queue-ID: {}", clean(&env.id)));
    line(&format!("Arrival-Date: {}", date::rfc5322(env.created)));
    recipient_fields(report, action, &mut line);
    line("");

    // Part 3: the original headers (RFC 6522 §3: text/rfc822-headers).
    line(&format!("--{boundary}"));
    line("Content-Description: Undelivered Message Headers");
    line("Content-Type: text/rfc822-headers");
    line(&format!("Content-Transfer-Encoding: {cte}"));
    line("");
    let mut bytes = m.into_bytes();
    bytes.extend_from_slice(headers);
    if !headers.is_empty() && !headers.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Dsn { bytes, eight_bit }
}

/// The per-recipient fields of the delivery-status part (RFC 3464 §2.3),
/// each group after an empty line, written through `line`.
fn recipient_fields(report: &Report<'_>, action: &str, line: &mut impl FnMut(&str)) {
    for (address, failure) in report.recipients {
        line("");
        line(&format!(
            "Final-Recipient: {}",
            address_field(&clean(address))
        ));
        line(&format!("Action: {action}"));
        line(&format!("Status: {}", failure.status));
        if let Some(remote) = &failure.remote {
            let name = remote.split('[').next().unwrap_or(remote);
            line(&format!("Remote-MTA: dns; {}", clean(name)));
        }
        match &failure.reply {
            Some(reply) => line(&format!("Diagnostic-Code: smtp; {}", clean(reply))),
            None => line(&format!(
                "Diagnostic-Code: X-Portcullis; {}",
                clean(&failure.detail)
            )),
        }
        line(&format!("Last-Attempt-Date: {}", date::rfc5322(report.now)));
        if let DsnKind::Delay { until } = report.kind {
            line(&format!("Will-Retry-Until: {}", date::rfc5322(until)));
        }
    }
}

/// The queue envelope of a DSN to `recipient` (the original sender): from
/// the null sender, locally generated.
pub fn envelope(id: &str, recipient: &str, eight_bit: bool) -> Envelope {
    let mut env = Envelope::new(
        id.to_string(),
        String::new(),
        [recipient.to_string()],
        String::new(),
        None,
        None,
    );
    if eight_bit {
        env.body = BodyType::EightBitMime;
    }
    env
}

/// The failure as a sentence for the explanation part.
fn human(f: &Failure) -> String {
    match (&f.remote, &f.reply) {
        (Some(remote), Some(reply)) => format!(
            "host {} said: {} (in reply to {})",
            clean(remote),
            clean(reply),
            clean(&f.detail)
        ),
        _ => clean(&f.detail),
    }
}

/// No control characters (a CR or LF would end a field and forge the
/// next), bounded length (RFC 5322 §2.1.1: lines of at most 998 octets).
/// An address for a `message/delivery-status` field: `rfc822; addr` when
/// it is ASCII; else RFC 6533 §3's `utf-8; ` with the utf-8-addr-xtext
/// form, since the field itself must stay ASCII (each non-ASCII character,
/// and `+`, `=`, `\`, space and controls, as `\x{HEX}`).
fn address_field(address: &str) -> String {
    if address.is_ascii() {
        return format!("rfc822; {address}");
    }
    let mut out = String::from("utf-8; ");
    for c in address.chars() {
        if matches!(c, '\x21'..='\x7e') && !matches!(c, '+' | '=' | '\\') {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:02X}}}", u32::from(c)));
        }
    }
    out
}

fn clean(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > 900 {
        let mut cut = 900;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_smtp::Reply;

    const MESSAGE: &[u8] = b"Received: from client (x [127.0.0.1])\r\n\tby mx.test; date\r\nFrom: alice@local.test\r\nSubject: hello\r\nMessage-ID: <m1@local.test>\r\n\r\nsecret body text\r\n";

    fn original() -> Envelope {
        let mut env = Envelope::new(
            "0ORIG".into(),
            "alice@local.test".into(),
            [
                "bob@remote.test".to_string(),
                "carol@remote.test".to_string(),
            ],
            "client".into(),
            None,
            None,
        );
        env.created = 1_767_225_600;
        env
    }

    fn text(dsn: &Dsn) -> String {
        String::from_utf8(dsn.bytes.clone()).unwrap()
    }

    fn failures() -> Vec<(String, Failure)> {
        vec![
            (
                "bob@remote.test".into(),
                Failure::from_reply(
                    "mx.remote.test[127.0.0.5]",
                    &Reply::new(550, (5, 1, 1), "no such user"),
                    "RCPT TO",
                ),
            ),
            (
                "carol@remote.test".into(),
                Failure::local((4, 4, 1), "connect to 127.0.0.5:25: Connection refused").expired(),
            ),
        ]
    }

    #[test]
    fn a_utf8_recipient_is_reported_as_rfc6533_utf8_xtext() {
        assert_eq!(address_field("bob@remote.test"), "rfc822; bob@remote.test");
        assert_eq!(
            address_field("jörg+x=y@bücher.example"),
            "utf-8; j\\x{F6}rg\\x{2B}x\\x{3D}y@b\\x{FC}cher.example"
        );
        assert_eq!(address_field("日@x"), "utf-8; \\x{65E5}@x");
        let env = original();
        let recipients = vec![(
            "jörg@bücher.example".to_string(),
            Failure::local((5, 1, 1), "no such user"),
        )];
        let dsn = compose(&Report {
            reporting_mta: "mx.test",
            original: &env,
            message: MESSAGE,
            kind: DsnKind::Failure,
            recipients: &recipients,
            now: 1_767_229_200,
            id: "0DSN",
        });
        let t = text(&dsn);
        assert!(
            t.contains("\r\nFinal-Recipient: utf-8; j\\x{F6}rg@b\\x{FC}cher.example\r\n"),
            "{t}"
        );
    }

    fn failure_dsn() -> Dsn {
        let env = original();
        let recipients = failures();
        compose(&Report {
            reporting_mta: "mx.test",
            original: &env,
            message: MESSAGE,
            kind: DsnKind::Failure,
            recipients: &recipients,
            now: 1_767_229_200,
            id: "0DSN",
        })
    }

    #[test]
    fn a_failure_dsn_is_a_multipart_report_with_three_parts() {
        let t = text(&failure_dsn());
        assert!(t.contains("To: <alice@local.test>\r\n"));
        assert!(t.contains("From: Mail Delivery System <MAILER-DAEMON@mx.test>\r\n"));
        assert!(t.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(t.contains(
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"0DSN.1767229200/mx.test\"\r\n"
        ));
        let b = "--0DSN.1767229200/mx.test";
        assert_eq!(t.matches(&format!("{b}\r\n")).count(), 3);
        assert!(t.ends_with(&format!("{b}--\r\n")));
        assert!(t.contains("Content-Type: message/delivery-status\r\n"));
        assert!(t.contains("Content-Type: text/rfc822-headers\r\n"));
    }

    #[test]
    fn the_status_part_has_per_message_and_per_recipient_fields() {
        let t = text(&failure_dsn());
        assert!(t.contains(
            "Reporting-MTA: dns; mx.test\r\nX-Portcullis-Queue-ID: 0ORIG\r\nArrival-Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nFinal-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\nLast-Attempt-Date: Thu, 1 Jan 2026 01:00:00 +0000\r\n"
        ), "{t}");
        assert!(t.contains("Final-Recipient: rfc822; carol@remote.test\r\nAction: failed\r\nStatus: 5.4.7\r\nDiagnostic-Code: X-Portcullis; delivery time expired; last error: connect to 127.0.0.5:25: Connection refused\r\n"), "{t}");
    }

    #[test]
    fn the_original_headers_are_attached_but_not_the_body() {
        let t = text(&failure_dsn());
        assert!(t.contains("Subject: hello\r\nMessage-ID: <m1@local.test>\r\n"));
        assert!(t.contains("\tby mx.test; date\r\n"));
        assert!(!t.contains("secret body text"));
        assert!(t.contains("<bob@remote.test>: host mx.remote.test[127.0.0.5] said: 550 5.1.1 no such user (in reply to RCPT TO)\r\n"));
    }

    #[test]
    fn every_line_ends_in_crlf_and_is_short() {
        let dsn = failure_dsn();
        assert!(!dsn.eight_bit);
        let t = text(&dsn);
        for (i, line) in t.split("\r\n").enumerate() {
            assert!(
                !line.contains('\n') && !line.contains('\r'),
                "line {i}: {line:?}"
            );
            assert!(line.len() <= 998);
        }
    }

    #[test]
    fn a_delay_warning_says_until_when() {
        let env = original();
        let recipients = vec![(
            "bob@remote.test".to_string(),
            Failure::local((4, 4, 1), "connect to x: refused"),
        )];
        let t = text(&compose(&Report {
            reporting_mta: "mx.test",
            original: &env,
            message: MESSAGE,
            kind: DsnKind::Delay {
                until: env.created + 5 * 86_400,
            },
            recipients: &recipients,
            now: env.created + 4 * 3600,
            id: "0DLY",
        }));
        assert!(t.contains("Subject: Delayed Mail (still being retried)\r\n"));
        assert!(t.contains("Action: delayed\r\nStatus: 4.4.1\r\n"));
        assert!(t.contains("Will-Retry-Until: Tue, 6 Jan 2026 00:00:00 +0000\r\n"));
    }

    #[test]
    fn eight_bit_headers_are_marked() {
        let env = original();
        let recipients = failures();
        let dsn = compose(&Report {
            reporting_mta: "mx.test",
            original: &env,
            message: "Subject: grüße\r\n\r\nx\r\n".as_bytes(),
            kind: DsnKind::Failure,
            recipients: &recipients,
            now: 0,
            id: "0DSN",
        });
        assert!(dsn.eight_bit);
        assert!(text(&dsn).contains("Content-Transfer-Encoding: 8bit\r\n"));
        assert_eq!(
            envelope("0DSN", "alice@local.test", true).body,
            BodyType::EightBitMime
        );
    }

    #[test]
    fn a_dsn_comes_from_the_null_sender() {
        let env = envelope("0DSN", "alice@local.test", false);
        assert_eq!(env.sender, "");
        assert_eq!(env.recipients[0].address, "alice@local.test");
        assert_eq!(env.client_ip, None);
    }

    #[test]
    fn header_sections() {
        assert_eq!(original_headers(b"A: b\r\n\r\nbody"), b"A: b\r\n");
        assert_eq!(original_headers(b"A: b\r\n"), b"A: b\r\n");
        assert_eq!(original_headers(b"\r\nbody"), b"");
    }
}
