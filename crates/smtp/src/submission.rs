//! Submission hygiene (RFC 6409 §8): the header fields a submission server
//! adds to a message an authenticated user sent without them. Some large
//! receivers refuse mail without `Date:` or `Message-ID:`, and RFC 5322
//! §3.6 requires the one and recommends the other. Pure: the caller passes
//! the date and the id.

/// The fields to add, each ending in CRLF (empty when none is missing):
/// `Date: <date>` (RFC 6409 §8.3) and `Message-ID: <id@hostname>`
/// (§8.3, RFC 5322 §3.6.4), each only when the header section of `message`
/// has no such field. `message` may be only the first part of a large
/// message (`whole` false): when its header section does not end within
/// that part nothing is added, as a second `Date:` would be worse than none.
pub fn missing_fields(message: &[u8], whole: bool, date: &str, id: &str, hostname: &str) -> String {
    let mut out = String::new();
    if !whole && !header_ends(message) {
        return out;
    }
    if !has_field(message, "date") {
        out.push_str(&format!("Date: {date}\r\n"));
    }
    if !has_field(message, "message-id") {
        out.push_str(&format!("Message-ID: <{id}@{hostname}>\r\n"));
    }
    out
}

/// Whether the header section of `message` (the lines before the first
/// empty one) holds a field called `name`, compared case-insensitively
/// (RFC 5322 §1.2.2), with the white space before the colon that RFC 5322
/// §4.5 (obsolete syntax) still allows.
pub fn has_field(message: &[u8], name: &str) -> bool {
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return false;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let field = line[..colon].trim_ascii_end();
        if field.eq_ignore_ascii_case(name.as_bytes()) {
            return true;
        }
    }
    false
}

/// Whether the empty line that ends the header section is in `message`.
fn header_ends(message: &[u8]) -> bool {
    message.starts_with(b"\r\n")
        || message.starts_with(b"\n")
        || message.windows(2).any(|w| w == b"\n\n")
        || message.windows(3).any(|w| w == b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Thu, 3 Dec 2026 07:00:00 +0000";

    #[test]
    fn both_are_added_when_missing() {
        assert_eq!(
            missing_fields(b"Subject: hi\r\n\r\nbody\r\n", true, DATE, "ABC", "mx.test"),
            format!("Date: {DATE}\r\nMessage-ID: <ABC@mx.test>\r\n")
        );
    }

    #[test]
    fn present_fields_are_kept_whatever_their_case_or_spacing() {
        let m = b"DATE: yesterday\r\nmessage-id : <x@y>\r\n\r\n";
        assert_eq!(missing_fields(m, true, DATE, "ABC", "mx.test"), "");
        let m = b"Subject: x\r\nDate: yesterday\r\n\r\n";
        assert_eq!(
            missing_fields(m, true, DATE, "ABC", "mx.test"),
            "Message-ID: <ABC@mx.test>\r\n"
        );
    }

    #[test]
    fn fields_in_the_body_or_folded_values_do_not_count() {
        let m = b"Subject: talk about\r\n Date: and Message-ID: here\r\n\r\nDate: in the body\r\nMessage-ID: <b@b>\r\n";
        assert!(!has_field(m, "date"));
        assert!(!has_field(m, "message-id"));
        assert!(has_field(m, "subject"));
        // A field name is the whole name: `X-Date:` is not `Date:`.
        assert!(!has_field(b"X-Date: now\r\n\r\n", "date"));
        assert!(!has_field(b"", "date"));
    }

    #[test]
    fn a_header_section_cut_off_by_the_part_seen_adds_nothing() {
        let head = b"Subject: long\r\nX-Long: aaaa\r\n";
        assert_eq!(missing_fields(head, false, DATE, "ABC", "mx.test"), "");
        // The whole message without a body: its header section is all of it.
        assert_ne!(missing_fields(head, true, DATE, "ABC", "mx.test"), "");
        let ended = b"Subject: s\r\n\r\nbody that goes o";
        assert_ne!(missing_fields(ended, false, DATE, "ABC", "mx.test"), "");
    }
}
