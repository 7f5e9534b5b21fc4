//! The commands the client writes (RFC 5321 §4.1.1), each a complete line
//! ending in CRLF. Addresses come from the queue; one holding a character
//! that could end or split the command line (CR, LF or any other control
//! character) is refused here, so no queued value can inject a second
//! command. Anything else (a quoted local part with spaces, say) is the
//! next hop's to parse.

use crate::command::Body;

/// A value that cannot be put on a command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} cannot be sent in an SMTP command")]
pub struct CommandError {
    /// What the value is (`sender address`, `recipient address`, `EHLO name`).
    pub what: &'static str,
    /// The value, for the message.
    pub value: String,
}

/// The MAIL FROM parameters to send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailOptions {
    /// `SIZE=` (RFC 1870), sent only when the server announced SIZE.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152); `SevenBit` sends no parameter.
    pub body: Body,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
}

/// `EHLO name`.
pub fn ehlo(name: &str) -> Result<Vec<u8>, CommandError> {
    check("EHLO name", name, false)?;
    Ok(format!("EHLO {name}\r\n").into_bytes())
}

/// `LHLO name` (RFC 2033 §4.1: LMTP's EHLO, answered the same way).
pub fn lhlo(name: &str) -> Result<Vec<u8>, CommandError> {
    check("LHLO name", name, false)?;
    Ok(format!("LHLO {name}\r\n").into_bytes())
}

/// `HELO name` (RFC 5321 §3.2: the fallback when EHLO is refused).
pub fn helo(name: &str) -> Result<Vec<u8>, CommandError> {
    check("HELO name", name, false)?;
    Ok(format!("HELO {name}\r\n").into_bytes())
}

/// `MAIL FROM:<sender> [SIZE=n] [BODY=…] [SMTPUTF8]`; `""` is the null sender.
pub fn mail_from(sender: &str, options: &MailOptions) -> Result<Vec<u8>, CommandError> {
    check("sender address", sender, true)?;
    let mut line = format!("MAIL FROM:<{sender}>");
    if let Some(size) = options.size {
        line.push_str(&format!(" SIZE={size}"));
    }
    match options.body {
        Body::SevenBit => {}
        Body::EightBitMime => line.push_str(" BODY=8BITMIME"),
        Body::BinaryMime => line.push_str(" BODY=BINARYMIME"),
    }
    if options.smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    line.push_str("\r\n");
    Ok(line.into_bytes())
}

/// `RCPT TO:<recipient>`.
pub fn rcpt_to(recipient: &str) -> Result<Vec<u8>, CommandError> {
    check("recipient address", recipient, false)?;
    Ok(format!("RCPT TO:<{recipient}>\r\n").into_bytes())
}

/// `RSET`: ends a transaction so the connection can carry the next one.
pub fn rset() -> Vec<u8> {
    b"RSET\r\n".to_vec()
}

/// `QUIT`.
pub fn quit() -> Vec<u8> {
    b"QUIT\r\n".to_vec()
}

/// `STARTTLS` (RFC 3207).
pub fn starttls() -> Vec<u8> {
    b"STARTTLS\r\n".to_vec()
}

/// Refuses a value that is empty (unless allowed) or holds a character that
/// would end or split the command line.
fn check(what: &'static str, value: &str, may_be_empty: bool) -> Result<(), CommandError> {
    let bad = (!may_be_empty && value.is_empty())
        || value.len() > 512
        || value.chars().any(char::is_control);
    if bad {
        Err(CommandError {
            what,
            value: value.to_string(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_from_carries_only_the_parameters_asked_for() {
        assert_eq!(
            mail_from("", &MailOptions::default()).unwrap(),
            b"MAIL FROM:<>\r\n"
        );
        let opts = MailOptions {
            size: Some(1234),
            body: Body::EightBitMime,
            smtputf8: true,
        };
        assert_eq!(
            mail_from("a@b.test", &opts).unwrap(),
            b"MAIL FROM:<a@b.test> SIZE=1234 BODY=8BITMIME SMTPUTF8\r\n"
        );
    }

    #[test]
    fn rcpt_and_ehlo_lines() {
        assert_eq!(
            rcpt_to("bob@remote.test").unwrap(),
            b"RCPT TO:<bob@remote.test>\r\n"
        );
        assert_eq!(ehlo("mx.test").unwrap(), b"EHLO mx.test\r\n");
        assert_eq!(helo("mx.test").unwrap(), b"HELO mx.test\r\n");
    }

    #[test]
    fn values_that_could_inject_a_command_are_refused() {
        for bad in ["a@b\r\nRCPT TO:<evil@x>", "a@b\n", "a\tb@c", "a\0@b", ""] {
            assert!(rcpt_to(bad).is_err(), "{bad:?}");
        }
        assert!(mail_from("x@y\rDATA", &MailOptions::default()).is_err());
        assert!(ehlo("mx\r\ntest").is_err());
        let e = rcpt_to("a\nb").unwrap_err();
        assert_eq!(
            e.to_string(),
            "recipient address \"a\\nb\" cannot be sent in an SMTP command"
        );
    }

    #[test]
    fn a_quoted_local_part_with_a_space_passes() {
        assert_eq!(
            rcpt_to("\"a b\"@c.test").unwrap(),
            b"RCPT TO:<\"a b\"@c.test>\r\n"
        );
    }
}
