//! The maildrop: where `portcullis sendmail` leaves a message while the
//! server is down, as Postfix's `postdrop` does, and where `serve` picks it
//! up. This module holds the file format, the file names, the queue id a drop
//! file becomes, and whether a queued one is still pending.
//!
//! A drop file is written by the submitting user into `<data_dir>/maildrop/`
//! (mode 3733: anyone may create a file there, nobody may list it, and the
//! sticky bit keeps each user's files theirs) under a temporary name that
//! starts with `.`, fsynced, then renamed to its final name: [`new_name`], 24
//! characters of `[0-9A-Z]`, time-sortable, 65 bits of them random. Its
//! content:
//!
//! ```text
//! portcullis-maildrop 1
//! from alice@example.com
//! to bob@example.org
//! to carol@example.net
//! body 8bitmime
//!
//! <the message, CRLF line ends, not dot-stuffed>
//! ```
//!
//! `from` is empty for the null sender. Nothing in the file says who wrote
//! it: the server takes that from the file's owner (see `docs/reference.md`,
//! "sendmail and the maildrop").

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

/// The directory under `data_dir`.
pub const DIR: &str = "maildrop";
/// The first line of every drop file.
pub const MAGIC: &str = "portcullis-maildrop 1";
/// Prefix of the queue ids made from drop file names ([`queue_id`]); no id
/// the server makes for SMTP mail is 26 characters long, so none clashes.
pub const ID_PREFIX: &str = "MD";
/// Prefix of the id of the bounce for recipients refused at import ([`bounce_id`]).
pub const BOUNCE_PREFIX: &str = "MB";
/// The most recipients one drop file may name.
pub const MAX_RECIPIENTS: usize = 10_000;

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const TIME_CHARS: usize = 11;
const RANDOM_CHARS: usize = 13;
/// The length of a drop file name.
pub const NAME_LEN: usize = TIME_CHARS + RANDOM_CHARS;
/// The longest envelope line (address lines are far shorter in practice).
const MAX_LINE: usize = 2048;

/// One message in the maildrop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drop {
    /// The envelope sender; empty for the null sender `<>`.
    pub sender: String,
    /// The envelope recipients, as given (`user@domain`).
    pub recipients: Vec<String>,
    /// The message has 8-bit content (`BODY=8BITMIME`).
    pub eight_bit: bool,
    /// The message: CRLF line ends, not dot-stuffed.
    pub message: Vec<u8>,
}

/// A new drop file name: microseconds since the epoch in base 36 (so a
/// directory listing sorts oldest first), then random characters (so no
/// user can guess another's next name).
pub fn new_name() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut digits = [b'0'; TIME_CHARS];
    let mut rest = micros;
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(rest % 36) as usize];
        rest /= 36;
    }
    let mut rng = rand::thread_rng();
    let mut name: String = digits.iter().map(|&b| b as char).collect();
    name.extend((0..RANDOM_CHARS).map(|_| ALPHABET[rng.gen_range(0..36)] as char));
    name
}

/// Whether `name` is a drop file's final name. Anything else in the
/// directory is a temporary file (leading `.`) or does not belong there.
pub fn is_drop_name(name: &str) -> bool {
    name.len() == NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The queue id of the message made from drop file `name`. Derived, not
/// drawn: importing the same file twice (a crash between queueing it and
/// removing it) finds the message already queued instead of queueing a copy.
pub fn queue_id(name: &str) -> String {
    format!("{ID_PREFIX}{name}")
}

/// The queue id of the bounce for the recipients of drop file `name` that
/// were refused at import; derived for the same reason.
pub fn bounce_id(name: &str) -> String {
    format!("{BOUNCE_PREFIX}{name}")
}

/// The drop file name a queue id ([`queue_id`] or [`bounce_id`]) was made
/// from, if it was made from one.
pub fn name_of_queue_id(id: &str) -> Option<&str> {
    id.strip_prefix(ID_PREFIX)
        .or_else(|| id.strip_prefix(BOUNCE_PREFIX))
        .filter(|n| is_drop_name(n))
}

/// Whether queue id `id` was made from a drop file that is still in the
/// maildrop: the queue runner must not deliver it yet.
pub fn is_pending(data_dir: &Path, id: &str) -> bool {
    name_of_queue_id(id)
        .is_some_and(|name| std::fs::symlink_metadata(data_dir.join(DIR).join(name)).is_ok())
}

/// The file's bytes.
pub fn encode(drop: &Drop) -> Vec<u8> {
    let mut out = format!("{MAGIC}\nfrom {}\n", drop.sender).into_bytes();
    for r in &drop.recipients {
        out.extend_from_slice(format!("to {r}\n").as_bytes());
    }
    let body = if drop.eight_bit { "8bitmime" } else { "7bit" };
    out.extend_from_slice(format!("body {body}\n\n").as_bytes());
    out.extend_from_slice(&drop.message);
    out
}

/// Parses a drop file; the error is one sentence. Addresses are only
/// checked for what would break the format (control characters, length):
/// the server parses them as it parses MAIL and RCPT.
pub fn decode(bytes: &[u8]) -> Result<Drop, String> {
    let mut rest = bytes;
    let mut line = || -> Result<&str, String> {
        let end = rest
            .iter()
            .take(MAX_LINE + 1)
            .position(|&b| b == b'\n')
            .ok_or("an envelope line is unterminated or too long")?;
        let l = std::str::from_utf8(&rest[..end])
            .map_err(|_| "an envelope line is not UTF-8".to_string())?;
        rest = &rest[end + 1..];
        if l.chars().any(char::is_control) {
            return Err("an envelope line holds a control character".into());
        }
        Ok(l)
    };
    if line()? != MAGIC {
        return Err(format!("the first line is not {MAGIC:?}"));
    }
    let sender = line()?
        .strip_prefix("from ")
        .ok_or("the second line is not `from ADDRESS`")?
        .to_string();
    let mut recipients = Vec::new();
    let eight_bit = loop {
        let l = line()?;
        if let Some(r) = l.strip_prefix("to ") {
            if recipients.len() == MAX_RECIPIENTS {
                return Err(format!("more than {MAX_RECIPIENTS} recipients"));
            }
            recipients.push(r.to_string());
        } else if let Some(b) = l.strip_prefix("body ") {
            break match b {
                "8bitmime" => true,
                "7bit" => false,
                other => return Err(format!("unknown body type {other:?}")),
            };
        } else {
            return Err(format!("unexpected envelope line {l:?}"));
        }
    };
    if !line()?.is_empty() {
        return Err("no empty line after the envelope".into());
    }
    if recipients.is_empty() {
        return Err("no recipients".into());
    }
    Ok(Drop {
        sender,
        recipients,
        eight_bit,
        message: rest.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Drop {
        Drop {
            sender: "alice@example.com".into(),
            recipients: vec!["bob@example.org".into(), "carol@example.net".into()],
            eight_bit: true,
            message: b"Subject: hi\r\n\r\nbody\r\nto x\r\n".to_vec(),
        }
    }

    #[test]
    fn a_drop_survives_encoding() {
        let d = sample();
        assert_eq!(decode(&encode(&d)).unwrap(), d);
        let null = Drop {
            sender: String::new(),
            eight_bit: false,
            ..sample()
        };
        assert_eq!(decode(&encode(&null)).unwrap(), null);
        assert!(encode(&null).starts_with(b"portcullis-maildrop 1\nfrom \nto bob@"));
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        let good = encode(&sample());
        let cases: [(&[u8], &str); 7] = [
            (b"", "unterminated"),
            (b"portcullis-maildrop 2\n", "first line"),
            (b"portcullis-maildrop 1\nto a@b\n", "second line"),
            (
                b"portcullis-maildrop 1\nfrom a@b\nbody 7bit\n\nx",
                "no recipients",
            ),
            (b"portcullis-maildrop 1\nfrom a\rb\n", "control"),
            (
                b"portcullis-maildrop 1\nfrom a@b\nto c@d\nbody x\n\n",
                "body type",
            ),
            (
                b"portcullis-maildrop 1\nfrom a@b\nto c@d\nbody 7bit\nx\n",
                "empty line",
            ),
        ];
        for (bytes, want) in cases {
            let e = decode(bytes).unwrap_err();
            assert!(
                e.contains(want),
                "{e} for {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(decode(&good[..good.len() - 40]).is_err());
    }

    #[test]
    fn names_sort_by_time_and_map_to_queue_ids_and_back() {
        let a = new_name();
        let b = new_name();
        assert!(is_drop_name(&a) && is_drop_name(&b), "{a} {b}");
        assert!(a[..TIME_CHARS] <= b[..TIME_CHARS]);
        assert_ne!(a, b);
        let id = queue_id(&a);
        assert_eq!(id.len(), 26);
        assert_eq!(name_of_queue_id(&id), Some(a.as_str()));
        assert_eq!(name_of_queue_id(&bounce_id(&a)), Some(a.as_str()));
        // SMTP queue ids (16 characters) never look like drop ids.
        assert_eq!(name_of_queue_id("MD0LZ3K9QX2A7F4B"), None);
        for bad in [".tmp", "../etc/passwd", "abcdefghijklmnopqrstuvwx", ""] {
            assert!(!is_drop_name(bad), "{bad}");
        }
    }
}
