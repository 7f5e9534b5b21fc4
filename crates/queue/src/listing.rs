//! The text of `portcullis queue list` and `queue show ID` (like `mailq`
//! and `postcat -q`), the same whether it comes from the running server over
//! the control socket or straight from the queue directory.

use std::fmt::Write as _;

use portcullis_store::spool::{Envelope, RecipientState};

use super::date;

/// A queued message as listed: its envelope and its size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The envelope.
    pub envelope: Envelope,
    /// The size of `queue/<id>.msg`.
    pub size: u64,
}

/// One block per message (id, size, arrival, sender), one line per
/// recipient with its state, attempts, next try and last error; then a
/// summary line. An empty queue says so.
pub fn format_list(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "The queue is empty.\n".to_string();
    }
    let mut out = String::new();
    let mut total = 0u64;
    for entry in entries {
        total = total.saturating_add(entry.size);
        message_block(&mut out, entry);
    }
    let n = entries.len();
    let _ = writeln!(
        out,
        "-- {n} message{}, {total} bytes",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// The envelope in full, then the message itself.
pub fn format_show(entry: &Entry, message: &[u8]) -> String {
    let env = &entry.envelope;
    let mut out = String::new();
    message_block(&mut out, entry);
    let _ = writeln!(out, "helo: {}", printable(&env.helo));
    let _ = writeln!(
        out,
        "client: {}",
        env.client_ip
            .map_or_else(|| "(local)".to_string(), |ip| ip.to_string())
    );
    if let Some(user) = &env.auth_user {
        let _ = writeln!(out, "auth: {}", printable(user));
    }
    let body = match env.body {
        portcullis_store::spool::BodyType::SevenBit => "7bit",
        portcullis_store::spool::BodyType::EightBitMime => "8bitmime",
        portcullis_store::spool::BodyType::BinaryMime => "binarymime",
    };
    let _ = writeln!(
        out,
        "body: {body}{}",
        if env.smtputf8 { ", smtputf8" } else { "" }
    );
    out.push_str("--- message ---\n");
    // Shown as text; control characters other than line ends are escaped
    // so a hostile message cannot drive the admin's terminal.
    // A tab stays a tab: it folds headers (RFC 5322 §2.2.3) and is inert.
    for line in String::from_utf8_lossy(message).split_inclusive('\n') {
        let line = line.trim_end_matches(['\r', '\n']);
        let shown: String = line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
            .collect();
        out.push_str(&shown);
        out.push('\n');
    }
    out
}

fn message_block(out: &mut String, entry: &Entry) {
    let env = &entry.envelope;
    let sender = if env.sender.is_empty() {
        "<> (bounce)".to_string()
    } else {
        format!("<{}>", printable(&env.sender))
    };
    let _ = writeln!(
        out,
        "{}  {} bytes  {}  from {sender}{}",
        env.id,
        entry.size,
        date::short(env.created),
        if env.held { "  HELD" } else { "" }
    );
    for r in &env.recipients {
        let state = match r.state {
            RecipientState::Pending => "pending",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
        };
        let mut line = format!("  {state:<9}  {}", printable(&r.address));
        if r.attempts > 0 {
            let _ = write!(line, "  attempts {}", r.attempts);
        }
        if r.state == RecipientState::Pending {
            let _ = write!(line, "  next try {}", date::short(r.next_attempt));
        }
        let _ = writeln!(out, "{line}");
        if let Some(e) = &r.last_error {
            let _ = writeln!(out, "             last error: {}", printable(e));
        }
    }
}

/// Control characters shown as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut env = Envelope::new(
            "0LZ3K9QX2A7F4B1C".into(),
            "alice@local.test".into(),
            [
                "bob@remote.test".to_string(),
                "carol@remote.test".to_string(),
            ],
            "client.test".into(),
            Some("127.0.0.1".parse().unwrap()),
            None,
        );
        env.created = 1_767_225_600;
        env.recipients[0].attempts = 2;
        env.recipients[0].next_attempt = 1_767_225_900;
        env.recipients[0].last_error =
            Some("4.4.1 connect to 127.0.0.1:2526: Connection refused".into());
        env.recipients[1].state = RecipientState::Delivered;
        env.recipients[1].attempts = 1;
        Entry {
            envelope: env,
            size: 1234,
        }
    }

    #[test]
    fn the_list_names_each_recipient_with_its_state_and_last_error() {
        assert_eq!(
            format_list(&[entry()]),
            "0LZ3K9QX2A7F4B1C  1234 bytes  2026-01-01 00:00:00 UTC  from <alice@local.test>\n\
             \x20 pending    bob@remote.test  attempts 2  next try 2026-01-01 00:05:00 UTC\n\
             \x20            last error: 4.4.1 connect to 127.0.0.1:2526: Connection refused\n\
             \x20 delivered  carol@remote.test  attempts 1\n\
             -- 1 message, 1234 bytes\n"
        );
    }

    #[test]
    fn show_keeps_the_tabs_that_fold_headers() {
        let text = format_show(&entry(), b"Subject: a\r\n\tlong one\r\n\r\nbody\r\n");
        assert!(text.contains("Subject: a\n\tlong one\n"), "{text}");
    }

    #[test]
    fn an_empty_queue_says_so() {
        assert_eq!(format_list(&[]), "The queue is empty.\n");
    }

    #[test]
    fn show_adds_the_envelope_details_and_the_message() {
        let text = format_show(&entry(), b"Subject: hi\r\n\r\nbody\x1b[2J\r\n");
        assert!(text.contains("client: 127.0.0.1\n"));
        assert!(
            text.contains("--- message ---\nSubject: hi\n\nbody?[2J\n"),
            "{text}"
        );
    }

    #[test]
    fn a_bounce_shows_the_null_sender() {
        let mut e = entry();
        e.envelope.sender.clear();
        assert!(format_list(&[e]).contains("from <> (bounce)"));
    }
}
