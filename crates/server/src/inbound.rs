//! Checks of mail from outside (not authenticated, not a `relay.allow`
//! client): SPF (RFC 7208) of the MAIL FROM domain, or of the HELO name for
//! the null sender; every DKIM signature (RFC 6376); DMARC (RFC 7489)
//! alignment and policy. The results become one `Authentication-Results:`
//! header (RFC 8601) naming this host; headers of that name already in the
//! message that claim this host are dropped first (RFC 8601 §5), since
//! anyone can write them.
//!
//! The lookups go through the server's resolver and `[dns]` settings. A DNS
//! failure or a timeout is `temperror`, never a reason to refuse.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::dkim::DkimError;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    Error, MessageAuthenticator, SpfOutput, SpfResult,
};
use portcullis_smtp::Reply;

/// The largest message whose DKIM signatures are verified: verification
/// needs the whole message in memory, and a session's memory stays bounded
/// (docs/reference.md §6). Larger messages get SPF only.
pub(crate) const MAX_VERIFIED: u64 = 4 * 1024 * 1024;

/// How many messages may be held for verification at once (16 × 4 MiB =
/// 64 MiB at most); the others wait for a turn, as long as the DNS
/// deadline, then get SPF only, like a message over [`MAX_VERIFIED`].
pub(crate) const VERIFYING_AT_ONCE: usize = 16;

/// What the checks found.
pub(crate) struct Verdict {
    /// The `Authentication-Results:` header field, CRLF-terminated.
    pub header: String,
    /// `Some` when `inbound.dmarc_reject` refuses the message.
    pub refuse: Option<Reply>,
}

/// The inputs of one check.
pub(crate) struct Inputs<'a> {
    pub hostname: &'a str,
    pub client: IpAddr,
    pub helo: &'a str,
    /// MAIL FROM, `""` for the null sender.
    pub mail_from: &'a str,
    /// The whole message as received, or why it was not read into memory
    /// for DKIM (over [`MAX_VERIFIED`], or no turn among
    /// [`VERIFYING_AT_ONCE`]).
    pub message: Result<&'a [u8], &'static str>,
    pub dmarc_reject: bool,
}

/// Runs SPF, DKIM and DMARC within `deadline` (the parts not finished by
/// then are `temperror`).
pub(crate) async fn check(
    auth: &MessageAuthenticator,
    input: &Inputs<'_>,
    deadline: Duration,
) -> Verdict {
    let host = input.hostname;
    let (spf, spf_domain, spf_part) = check_spf(auth, input, deadline).await;

    let raw = match input.message {
        Ok(raw) => raw,
        // Not held for DKIM: SPF only, and never a refusal.
        Err(why) => return Verdict {
            header: format!(
                "Authentication-Results: {host};\r\n\tdkim=none ({why}){spf_part};\r\n\tdmarc=none\r\n"
            ),
            refuse: None,
        },
    };
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return Verdict {
            header: format!("Authentication-Results: {host};\r\n\tdkim=none{spf_part}\r\n"),
            refuse: None,
        };
    };
    let from = message.from.first().cloned().unwrap_or_default();
    let Ok(dkim) = tokio::time::timeout(deadline, auth.verify_dkim(&message)).await else {
        return Verdict {
            header: format!(
                "Authentication-Results: {host};\r\n\tdkim=temperror{spf_part};\r\n\tdmarc=temperror\r\n"
            ),
            refuse: None,
        };
    };
    let dkim: Vec<DkimOutput> = dkim
        .into_iter()
        .map(|out| body_hash_is_fail(out, &message))
        .collect();
    let dkim_part = if dkim.is_empty() {
        ";\r\n\tdkim=none".to_string()
    } else {
        part(
            &AuthenticationResults::new(host)
                .with_dkim_results(&dkim, &from)
                .to_string(),
            host,
        )
    };
    let dmarc = tokio::time::timeout(
        deadline,
        auth.verify_dmarc(DmarcParameters::new(&message, &dkim, &spf_domain, &spf)),
    )
    .await;
    let (dmarc_part, refuse) = match dmarc {
        Err(_) => (";\r\n\tdmarc=temperror".to_string(), None),
        Ok(out) => dmarc_part(&out, input.dmarc_reject),
    };
    Verdict {
        header: format!("Authentication-Results: {host}{dkim_part}{spf_part}{dmarc_part}\r\n"),
        refuse,
    }
}

/// SPF (RFC 7208) of MAIL FROM, or of the HELO name for the null sender:
/// the result, the domain it speaks for, and its `Authentication-Results:` part.
async fn check_spf(
    auth: &MessageAuthenticator,
    input: &Inputs<'_>,
    deadline: Duration,
) -> (SpfOutput, String, String) {
    let host = input.hostname;
    let helo = input.helo.trim_start_matches('[').trim_end_matches(']');
    let params = if input.mail_from.is_empty() {
        SpfParameters::verify_ehlo(input.client, helo, host)
    } else {
        SpfParameters::verify_mail_from(input.client, helo, host, input.mail_from)
    };
    let spf_domain = match input.mail_from.rsplit_once('@') {
        Some((_, d)) => d.to_string(),
        None => helo.to_string(),
    };
    let spf = tokio::time::timeout(deadline, auth.verify_spf(params))
        .await
        .unwrap_or_else(|_| SpfOutput::new(spf_domain.clone()).with_result(SpfResult::TempError));
    let spf_part = if input.mail_from.is_empty() {
        AuthenticationResults::new(host).with_spf_ehlo_result(&spf, input.client, helo)
    } else {
        AuthenticationResults::new(host).with_spf_mailfrom_result(
            &spf,
            input.client,
            input.mail_from,
            helo,
        )
    }
    .to_string();
    let spf_part = part(&spf_part, host);
    (spf, spf_domain, spf_part)
}

/// The DMARC part of `Authentication-Results:`, and the refusal that
/// `inbound.dmarc_reject` asks for when the domain's policy is reject.
fn dmarc_part(out: &DmarcOutput, dmarc_reject: bool) -> (String, Option<Reply>) {
    let (result, failed) = dmarc_result(out);
    let refuse = (dmarc_reject && failed && out.policy() == Policy::Reject).then(|| {
        Reply::new(
            550,
            (5, 7, 1),
            format!(
                "Message refused: {} publishes a DMARC reject policy and this message fails DMARC",
                out.domain()
            ),
        )
    });
    let mut part = format!(";\r\n\tdmarc={result}");
    if !out.domain().is_empty() {
        part.push_str(&format!(" header.from={}", out.domain()));
    }
    if result == "pass" || result == "fail" {
        part.push_str(match out.policy() {
            Policy::Reject => " policy.dmarc=reject",
            Policy::Quarantine => " policy.dmarc=quarantine",
            Policy::None | Policy::Unspecified => " policy.dmarc=none",
        });
    }
    (part, refuse)
}

/// The DMARC result (RFC 7489 §6.6.2, RFC 8601 §2.7.1) and whether it is
/// a failure. mail-auth leaves its SPF and DKIM results at `None` when
/// neither passed at all; with a policy record found, that is a failure
/// (without one, `none`).
/// A temporary error in any part is `temperror`, never a failure.
fn dmarc_result(out: &DmarcOutput) -> (&'static str, bool) {
    let (s, d) = (out.spf_result(), out.dkim_result());
    let temp = |r: &DmarcResult| matches!(r, DmarcResult::TempError(_));
    let perm = |r: &DmarcResult| matches!(r, DmarcResult::PermError(_));
    if temp(s) || temp(d) {
        ("temperror", false)
    } else if perm(s) || perm(d) {
        ("permerror", false)
    } else if *s == DmarcResult::Pass || *d == DmarcResult::Pass {
        ("pass", false)
    } else if out.dmarc_record().is_none() {
        ("none", false)
    } else {
        ("fail", true)
    }
}

/// RFC 6376 §3.7: a body hash that does not match fails the signature
/// ("PERMFAIL (body hash did not verify)"), which RFC 8601 §2.7.1 records as
/// `fail`; mail-auth reports it as `neutral`, which would let a tampered
/// message escape DMARC.
fn body_hash_is_fail<'x>(
    out: DkimOutput<'x>,
    message: &'x AuthenticatedMessage<'x>,
) -> DkimOutput<'x> {
    let body_hash = Error::Dkim(DkimError::FailedBodyHashMatch);
    if !matches!(out.result(), DkimResult::Neutral(e) if *e == body_hash) {
        return out;
    }
    // The same signature, borrowed from the message rather than the output.
    let signature = out.signature().and_then(|sig| {
        message
            .dkim_headers
            .iter()
            .find(|h| std::ptr::eq(&h.header, sig))
    });
    match signature {
        Some(h) => DkimOutput::fail(body_hash).with_signature(&h.header),
        None => out,
    }
}

/// One result of a builder's output (`host;\r\n\tspf=…`), without the host
/// (the builder needs it for the comments it writes).
fn part(built: &str, host: &str) -> String {
    built.strip_prefix(host).unwrap_or(built).to_string()
}

/// The header section of `head` without the `Authentication-Results:`
/// fields whose authserv-id is `hostname`, and the length of the original
/// header section; `None` when there is none to drop (or no complete
/// header section in `head`).
pub(crate) fn strip_forged(head: &[u8], hostname: &str) -> Option<(Vec<u8>, usize)> {
    let end = header_end(head)?;
    let mut kept = Vec::with_capacity(end);
    let mut dropped = false;
    for field in fields(&head[..end]) {
        if claims(field, hostname) {
            dropped = true;
        } else {
            kept.extend_from_slice(field);
        }
    }
    dropped.then_some((kept, end))
}

/// Where the header section ends (after the CRLF of its last field), before
/// the empty line.
fn header_end(head: &[u8]) -> Option<usize> {
    if head.starts_with(b"\r\n") {
        return Some(0);
    }
    head.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
}

/// The header fields of a header section, each with its folded lines and
/// final CRLF.
fn fields(section: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < section.len() {
        let line_end = section[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(section.len(), |p| i + p + 2);
        let next_is_fold = matches!(section.get(line_end), Some(b' ' | b'\t'));
        if !next_is_fold {
            out.push(&section[start..line_end]);
            start = line_end;
        }
        i = line_end;
    }
    out
}

/// Whether `field` is an `Authentication-Results:` naming `hostname` as its
/// authserv-id (RFC 8601 §2.2: the first token of the value).
fn claims(field: &[u8], hostname: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    if !field[..colon]
        .trim_ascii()
        .eq_ignore_ascii_case(b"Authentication-Results")
    {
        return false;
    }
    let value = String::from_utf8_lossy(&field[colon + 1..]);
    let id = value
        .trim_start()
        .split(|c: char| c == ';' || c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    id.eq_ignore_ascii_case(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_results_claiming_this_host_are_dropped() {
        let head = b"Authentication-Results: MX.test;\r\n\tspf=pass smtp.mailfrom=a@b\r\n\
                     Authentication-Results: other.example; dkim=pass\r\n\
                     Authentication-Results:mx.test(forged) ; dmarc=pass\r\n\
                     Subject: hi\r\n\r\nbody\r\n";
        let (kept, end) = strip_forged(head, "mx.test").unwrap();
        assert_eq!(
            kept,
            b"Authentication-Results: other.example; dkim=pass\r\nSubject: hi\r\n"
        );
        assert_eq!(&head[end..], b"\r\nbody\r\n");
        assert!(strip_forged(b"Subject: x\r\n\r\nb\r\n", "mx.test").is_none());
        assert!(strip_forged(
            b"Authentication-Results: mx.test.evil; x\r\n\r\n",
            "mx.test"
        )
        .is_none());
    }
}
