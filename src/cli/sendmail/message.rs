//! The message sendmail reads on stdin, made ready to hand over: line ends
//! made CRLF, the end at a lone `.` line unless `-i`, recipients taken from
//! To/Cc/Bcc for `-t`, Bcc removed, and From/Date/Message-ID added when
//! missing (RFC 5322 §3.6 requires From and Date; §3.6.4 recommends
//! Message-ID). Pure: no I/O, no clock (the caller passes date and id).

/// The input as lines without their ends: up to a line holding a single
/// `.` (classic sendmail) unless `ignore_dots` (`-i`, `-oi`), else to EOF.
/// A final line without a newline counts; CR before LF is dropped.
pub(super) fn read_lines(input: &[u8], ignore_dots: bool) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !ignore_dots && line == b"." {
            break;
        }
        lines.push(line.to_vec());
    }
    lines
}

/// What to put in headers the message lacks.
pub(super) struct Defaults<'a> {
    /// The From address (the `-f` sender, or the invoking user at the host name).
    pub from: &'a str,
    /// `-F`: the display name for the added From.
    pub full_name: Option<&'a str>,
    /// RFC 5322 date-time for an added Date.
    pub date: &'a str,
    /// `<id@host>` for an added Message-ID.
    pub message_id: &'a str,
}

/// The message to send and what `-t` found.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Prepared {
    /// Header, blank line, body; every line ending in CRLF.
    pub message: Vec<u8>,
    /// Addresses of the To, Cc and Bcc headers, in order.
    pub header_recipients: Vec<String>,
    /// Whether any byte is outside 7-bit ASCII (so BODY=8BITMIME applies).
    pub eight_bit: bool,
}

/// Builds the message from the input lines.
pub(super) fn prepare(lines: &[Vec<u8>], defaults: &Defaults<'_>) -> Prepared {
    let header_len = header_block_len(lines);
    let (header, body) = lines.split_at(header_len);
    // The blank line after the header block, if there is one, is not body.
    let body = match body.first() {
        Some(l) if l.is_empty() && header_len > 0 => &body[1..],
        _ => body,
    };
    let fields = fields(header);
    let mut recipients = Vec::new();
    let mut out_header: Vec<&Vec<u8>> = Vec::new();
    let has = |name: &str| fields.iter().any(|f| f.name.eq_ignore_ascii_case(name));
    let (has_from, has_date, has_id) = (has("from"), has("date"), has("message-id"));
    for f in &fields {
        if ["to", "cc", "bcc"]
            .iter()
            .any(|n| f.name.eq_ignore_ascii_case(n))
        {
            recipients.extend(addresses(&f.unfolded()));
        }
        // Bcc recipients must not see each other, nor be seen: the header
        // goes (RFC 5322 §3.6.3, the first of its options, as Postfix does).
        if !f.name.eq_ignore_ascii_case("bcc") {
            out_header.extend(f.lines.iter());
        }
    }
    let mut message = Vec::new();
    for l in out_header {
        message.extend_from_slice(l);
        message.extend_from_slice(b"\r\n");
    }
    if !has_from {
        let from = match defaults.full_name {
            Some(name) if !name.trim().is_empty() => {
                format!("{} <{}>", quote_phrase(name.trim()), defaults.from)
            }
            _ => defaults.from.to_string(),
        };
        message.extend_from_slice(format!("From: {from}\r\n").as_bytes());
    }
    if !has_date {
        message.extend_from_slice(format!("Date: {}\r\n", defaults.date).as_bytes());
    }
    if !has_id {
        message.extend_from_slice(format!("Message-ID: {}\r\n", defaults.message_id).as_bytes());
    }
    message.extend_from_slice(b"\r\n");
    for l in body {
        message.extend_from_slice(l);
        message.extend_from_slice(b"\r\n");
    }
    let eight_bit = message.iter().any(|b| !b.is_ascii());
    Prepared {
        message,
        header_recipients: recipients,
        eight_bit,
    }
}

/// One header field: its name and its physical lines (first + continuations).
struct Field<'a> {
    name: String,
    lines: Vec<&'a Vec<u8>>,
}

impl Field<'_> {
    /// The value with folding undone (RFC 5322 §2.2.3).
    fn unfolded(&self) -> String {
        let mut v = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            let text = String::from_utf8_lossy(l);
            let part = if i == 0 {
                text.split_once(':').map(|x| x.1).unwrap_or("").to_string()
            } else {
                text.into_owned()
            };
            v.push_str(&part);
        }
        v
    }
}

/// How many leading lines form the header block: every line up to the
/// first empty one must be a field (`name:`) or a continuation; otherwise
/// the input has no header and is all body (as Postfix treats it).
fn header_block_len(lines: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for l in lines {
        if l.is_empty() {
            return n;
        }
        let continuation = matches!(l.first(), Some(b' ' | b'\t'));
        if !(is_field_start(l) || (continuation && n > 0)) {
            return 0;
        }
        n += 1;
    }
    n
}

/// `name:` with a name of printable ASCII except `:` (RFC 5322 §2.2).
fn is_field_start(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(i) => line[..i].iter().all(|&b| (33..=126).contains(&b)),
    }
}

fn fields(header: &[Vec<u8>]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    for l in header {
        if matches!(l.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.lines.push(l);
            }
            continue;
        }
        let name = l
            .iter()
            .position(|&b| b == b':')
            .map(|i| String::from_utf8_lossy(&l[..i]).into_owned())
            .unwrap_or_default();
        out.push(Field {
            name,
            lines: vec![l],
        });
    }
    out
}

/// The addresses of an address-list header value (RFC 5322 §3.4):
/// `Name <a@b>, c@d, "Last, First" <e@f>, group: g@h, i@j;` and comments.
pub(super) fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut angle, mut comment, mut escaped) = (false, false, 0u32, false);
    let mut items = Vec::new();
    for c in value.chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' if quoted || comment > 0 => {
                escaped = true;
                current.push(c);
            }
            '"' if comment == 0 => {
                quoted = !quoted;
                current.push(c);
            }
            '(' if !quoted => comment += 1,
            ')' if !quoted && comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            '<' if !quoted => {
                angle = true;
                current.push(c);
            }
            '>' if !quoted => {
                angle = false;
                current.push(c);
            }
            // A group's name ends at ':', the group at ';' (RFC 5322 §3.4).
            ':' if !quoted && !angle => current.clear(),
            ',' | ';' if !quoted && !angle => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    for item in items {
        let item = item.trim();
        let addr = match (item.rfind('<'), item.rfind('>')) {
            (Some(open), Some(close)) if open < close => item[open + 1..close].trim(),
            _ => item,
        };
        if !addr.is_empty() {
            out.push(addr.to_string());
        }
    }
    out
}

/// A display name as an RFC 5322 phrase: quoted unless it is plain atoms.
fn quote_phrase(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c));
    if plain {
        return name.to_string();
    }
    let mut q = String::from("\"");
    for c in name.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        if c != '\r' && c != '\n' {
            q.push(c);
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::{addresses, prepare, read_lines, Defaults, Prepared};

    const DEFAULTS: Defaults<'static> = Defaults {
        from: "cron@mx.test",
        full_name: None,
        date: "Thu, 1 Jan 1970 00:00:00 +0000",
        message_id: "<1.abc@mx.test>",
    };

    fn run(input: &str, ignore_dots: bool) -> Prepared {
        prepare(&read_lines(input.as_bytes(), ignore_dots), &DEFAULTS)
    }

    fn text(p: &Prepared) -> String {
        String::from_utf8(p.message.clone()).unwrap()
    }

    #[test]
    fn missing_headers_are_added_and_line_ends_become_crlf() {
        let p = run("Subject: t\n\nhi\n", false);
        assert_eq!(
            text(&p),
            "Subject: t\r\nFrom: cron@mx.test\r\nDate: Thu, 1 Jan 1970 00:00:00 +0000\r\n\
             Message-ID: <1.abc@mx.test>\r\n\r\nhi\r\n"
        );
        assert!(!p.eight_bit);
    }

    #[test]
    fn present_headers_are_kept_as_written() {
        let p = run(
            "From: Me <me@x>\r\nDate: yesterday\r\nMessage-Id: <m@x>\r\n\r\nbody",
            false,
        );
        assert_eq!(
            text(&p),
            "From: Me <me@x>\r\nDate: yesterday\r\nMessage-Id: <m@x>\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn input_without_a_header_is_all_body() {
        let p = run("just a line: with a colon\nsecond line\n", false);
        assert!(
            text(&p).ends_with("\r\n\r\njust a line: with a colon\r\nsecond line\r\n"),
            "{}",
            text(&p)
        );
        let p = run("hello world\n", false);
        assert!(text(&p).ends_with("Message-ID: <1.abc@mx.test>\r\n\r\nhello world\r\n"));
    }

    #[test]
    fn a_lone_dot_ends_the_input_unless_i() {
        let p = run("Subject: t\n\nbefore\n.\nafter\n", false);
        assert!(text(&p).ends_with("\r\nbefore\r\n"), "{}", text(&p));
        let p = run("Subject: t\n\nbefore\n.\nafter\n", true);
        assert!(text(&p).ends_with("\r\nbefore\r\n.\r\nafter\r\n"));
    }

    #[test]
    fn recipients_come_from_to_cc_bcc_and_bcc_is_removed() {
        let p = run(
            "To: Alice <alice@x>, bob@y\nCc: \"Last, First\" <carol@z>\n\t, dave@w\nBcc: eve@v\nSubject: s\n\nb\n",
            false,
        );
        assert_eq!(
            p.header_recipients,
            ["alice@x", "bob@y", "carol@z", "dave@w", "eve@v"]
        );
        let t = text(&p);
        assert!(!t.to_ascii_lowercase().contains("bcc"), "{t}");
        assert!(t.contains("Cc: \"Last, First\" <carol@z>\r\n\t, dave@w\r\n"));
    }

    #[test]
    fn address_lists_with_groups_and_comments() {
        assert_eq!(
            addresses(" friends: a@x, (c) b@y;, c@z (Carol)"),
            ["a@x", "b@y", "c@z"]
        );
        assert_eq!(addresses("undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(addresses("\"a,b\" <q@x>"), ["q@x"]);
    }

    #[test]
    fn the_full_name_is_quoted_when_needed_and_8bit_is_noticed() {
        let d = Defaults {
            full_name: Some("Cron, Daemon"),
            ..DEFAULTS
        };
        let p = prepare(&read_lines("Subject: café\n\nx\n".as_bytes(), false), &d);
        assert!(text(&p).contains("From: \"Cron, Daemon\" <cron@mx.test>\r\n"));
        assert!(p.eight_bit);
    }
}
