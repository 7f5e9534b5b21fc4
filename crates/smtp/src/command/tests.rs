//! Command lines as a specification: every command, every error reply with
//! its exact code and enhanced code.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::address::Domain;
use crate::reply::Enhanced;

fn ok(line: &str) -> Command {
    ok_with(line, false)
}

fn ok_with(line: &str, utf8: bool) -> Command {
    match parse_command(line.as_bytes(), utf8) {
        Ok(c) => c,
        Err(r) => panic!("{line:?} should parse, got {r}"),
    }
}

/// Asserts the exact code and enhanced code of the reply to `line`, and that
/// its text contains `text`.
fn reply_to(line: &[u8], code: u16, enhanced: (u8, u16, u16), text: &str) {
    reply_with(line, false, code, enhanced, text);
}

fn reply_with(line: &[u8], utf8: bool, code: u16, enhanced: (u8, u16, u16), text: &str) {
    let shown = String::from_utf8_lossy(line);
    match parse_command(line, utf8) {
        Ok(c) => panic!("{shown:?} should be refused, parsed as {c:?}"),
        Err(r) => {
            assert_eq!(r.code, code, "{shown:?}: {r}");
            assert_eq!(
                r.enhanced,
                Some(Enhanced(enhanced.0, enhanced.1, enhanced.2)),
                "{shown:?}: {r}"
            );
            assert_eq!(r.lines.len(), 1, "{shown:?}: {r}");
            assert!(r.lines[0].contains(text), "{shown:?}: {r} lacks {text:?}");
        }
    }
}

fn mailbox(local: &str, domain: &str) -> Mailbox {
    Mailbox {
        local: local.into(),
        domain: Domain::Name(domain.into()),
    }
}

fn sender(local: &str, domain: &str) -> ReversePath {
    ReversePath::Mailbox(mailbox(local, domain))
}

fn mail(line: &str) -> (ReversePath, MailParams) {
    match ok(line) {
        Command::Mail(path, params) => (path, params),
        other => panic!("{line:?} parsed as {other:?}"),
    }
}

fn params(line: &str) -> MailParams {
    mail(line).1
}

// --- EHLO / HELO ---------------------------------------------------------------

#[test]
fn ehlo_and_helo() {
    assert_eq!(
        ok("EHLO client.example"),
        Command::Ehlo("client.example".into())
    );
    assert_eq!(
        ok("HELO client.example"),
        Command::Helo("client.example".into())
    );
}

#[test]
fn verbs_are_case_insensitive() {
    assert_eq!(ok("ehlo a.test"), Command::Ehlo("a.test".into()));
    assert_eq!(ok("eHlO a.test"), Command::Ehlo("a.test".into()));
    assert_eq!(ok("helo a.test"), Command::Helo("a.test".into()));
    assert_eq!(ok("data"), Command::Data);
    assert_eq!(ok("Quit"), Command::Quit);
    assert_eq!(ok("rset"), Command::Rset);
    assert_eq!(ok("noop"), Command::Noop);
    assert_eq!(ok("starttls"), Command::StartTls);
    assert_eq!(ok("vrfy bob"), Command::Vrfy("bob".into()));
    assert_eq!(ok("expn staff"), Command::Expn("staff".into()));
    assert_eq!(ok("help"), Command::Help(String::new()));
    assert_eq!(ok("bdat 1 last"), Command::Bdat(1, true));
    assert_eq!(ok("auth plain"), Command::Auth("PLAIN".into(), None));
    assert_eq!(
        ok("mail from:<a@b.test>"),
        Command::Mail(sender("a", "b.test"), MailParams::default())
    );
    assert_eq!(
        ok("rcpt to:<a@b.test>"),
        Command::Rcpt(mailbox("a", "b.test"))
    );
}

#[test]
fn ehlo_accepts_the_odd_names_clients_send() {
    for name in [
        "[192.0.2.1]",
        "[IPv6:2001:db8::1]",
        "my_laptop",
        "localhost",
        "PC-42",
        "xn--bcher-kva.example",
        "bücher.example",
    ] {
        assert_eq!(
            ok(&format!("EHLO {name}")),
            Command::Ehlo(name.into()),
            "{name}"
        );
    }
}

#[test]
fn ehlo_keeps_a_multi_word_argument_whole_like_postfix() {
    assert_eq!(ok("EHLO my host"), Command::Ehlo("my host".into()));
}

#[test]
fn ehlo_separated_by_tab_and_trailing_blanks() {
    assert_eq!(ok("EHLO\tclient.test"), Command::Ehlo("client.test".into()));
    assert_eq!(
        ok("EHLO   client.test  \t"),
        Command::Ehlo("client.test".into())
    );
}

#[test]
fn ehlo_and_helo_need_an_argument() {
    reply_to(b"EHLO", 501, (5, 5, 4), "Syntax: EHLO hostname");
    reply_to(b"EHLO   ", 501, (5, 5, 4), "Syntax: EHLO hostname");
    reply_to(b"HELO", 501, (5, 5, 4), "Syntax: HELO hostname");
}

#[test]
fn ehlo_with_a_control_character_is_refused() {
    reply_to(b"EHLO a\x01b", 500, (5, 5, 2), "control character");
}

// --- MAIL --------------------------------------------------------------------------

#[test]
fn mail_from() {
    assert_eq!(
        mail("MAIL FROM:<alice@Example.COM>"),
        (sender("alice", "example.com"), MailParams::default())
    );
}

#[test]
fn mail_from_null_sender() {
    assert_eq!(
        mail("MAIL FROM:<>"),
        (ReversePath::Null, MailParams::default())
    );
}

#[test]
fn mail_from_with_one_space_after_the_colon() {
    assert_eq!(mail("MAIL FROM: <a@b.test>").0, sender("a", "b.test"));
    assert_eq!(mail("MAIL FROM: <>").0, ReversePath::Null);
}

#[test]
fn mail_from_with_extra_spaces_between_verb_and_from() {
    assert_eq!(mail("MAIL  FROM:<a@b.test>").0, sender("a", "b.test"));
}

#[test]
fn mail_syntax_errors() {
    for line in [
        "MAIL",
        "MAIL FROM:",
        "MAIL FROM: ",
        "MAIL FROM:  <a@b.test>",
        "MAIL FROM:\t<a@b.test>",
        "MAIL FROM <a@b.test>",
        "MAIL FROM : <a@b.test>",
        "MAIL <a@b.test>",
        "MAIL TO:<a@b.test>",
        "MAIL FRO",
    ] {
        reply_to(
            line.as_bytes(),
            501,
            (5, 5, 4),
            "Syntax: MAIL FROM:<address> [parameters]",
        );
    }
}

#[test]
fn mail_bad_sender_addresses() {
    reply_to(
        b"MAIL FROM:a@b.test",
        501,
        (5, 1, 7),
        "Bad sender address syntax: missing '<'",
    );
    reply_to(
        b"MAIL FROM:<a@b.test>x",
        501,
        (5, 1, 7),
        "Bad sender address syntax: unexpected text \"x\" after '>'",
    );
    reply_to(
        b"MAIL FROM:<a b@c.test>",
        501,
        (5, 1, 7),
        "space in local part",
    );
    reply_to(
        b"MAIL FROM:<a@b.test",
        501,
        (5, 1, 7),
        "missing closing '>'",
    );
    reply_to(
        b"MAIL FROM:<a@b.test SIZE=10",
        501,
        (5, 1, 7),
        "missing closing '>'",
    );
    reply_to(b"MAIL FROM:<postmaster>", 501, (5, 1, 7), "missing '@'");
    reply_to(
        b"MAIL FROM:<a@b@c.test>",
        501,
        (5, 1, 7),
        "more than one '@'",
    );
}

#[test]
fn mail_path_with_quoted_space_and_angle_bracket() {
    let (path, params) = mail(r#"MAIL FROM:<"a> b"@c.test> SIZE=10"#);
    assert_eq!(path, sender(r#""a> b""#, "c.test"));
    assert_eq!(params.size, Some(10));
    let (path, _) = mail(r#"MAIL FROM:<"a\"> b"@c.test>"#);
    assert_eq!(path, sender(r#""a\"> b""#, "c.test"));
}

#[test]
fn mail_from_address_literal() {
    assert_eq!(
        mail("MAIL FROM:<a@[192.0.2.1]>").0,
        ReversePath::Mailbox(Mailbox {
            local: "a".into(),
            domain: Domain::Literal(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        })
    );
}

// --- MAIL parameters ---------------------------------------------------------------

#[test]
fn size_parameter() {
    assert_eq!(params("MAIL FROM:<a@b.test> SIZE=12345").size, Some(12345));
    assert_eq!(params("MAIL FROM:<a@b.test> size=0").size, Some(0));
    assert_eq!(
        params("MAIL FROM:<a@b.test> SIZE=18446744073709551615").size,
        Some(u64::MAX)
    );
}

#[test]
fn size_overflow_is_refused() {
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE=99999999999999999999999",
        501,
        (5, 5, 4),
        "SIZE value 99999999999999999999999 is too large",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE=18446744073709551616",
        501,
        (5, 5, 4),
        "too large",
    );
}

#[test]
fn size_must_be_digits() {
    for value in ["abc", "+5", "-1", "1e3", "10k", "0x10", "１"] {
        reply_to(
            format!("MAIL FROM:<a@b.test> SIZE={value}").as_bytes(),
            501,
            (5, 5, 4),
            "is not a number",
        );
    }
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE",
        501,
        (5, 5, 4),
        "SIZE parameter needs a value",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE=",
        501,
        (5, 5, 4),
        "Syntax error in parameter \"SIZE=\"",
    );
}

#[test]
fn body_parameter() {
    assert_eq!(
        params("MAIL FROM:<a@b.test> BODY=7BIT").body,
        Body::SevenBit
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> BODY=8BITMIME").body,
        Body::EightBitMime
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> body=8bitmime").body,
        Body::EightBitMime
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> BODY=BinaryMIME").body,
        Body::BinaryMime
    );
    assert_eq!(params("MAIL FROM:<a@b.test>").body, Body::SevenBit);
    reply_to(
        b"MAIL FROM:<a@b.test> BODY=9BIT",
        501,
        (5, 5, 4),
        "BODY value \"9BIT\" is not 7BIT, 8BITMIME or BINARYMIME",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> BODY",
        501,
        (5, 5, 4),
        "BODY parameter needs a value",
    );
}

#[test]
fn smtputf8_parameter() {
    assert!(params("MAIL FROM:<a@b.test> SMTPUTF8").smtputf8);
    assert!(params("MAIL FROM:<a@b.test> smtputf8").smtputf8);
    assert!(!params("MAIL FROM:<a@b.test>").smtputf8);
    reply_to(
        b"MAIL FROM:<a@b.test> SMTPUTF8=yes",
        501,
        (5, 5, 4),
        "SMTPUTF8 takes no value",
    );
}

#[test]
fn smtputf8_on_the_same_line_allows_utf8_in_the_sender() {
    let (path, params) = mail("MAIL FROM:<jörg@Bücher.example> SMTPUTF8");
    assert_eq!(path, sender("jörg", "bücher.example"));
    assert!(params.smtputf8);
    reply_to(
        "MAIL FROM:<jörg@bücher.example>".as_bytes(),
        501,
        (5, 1, 7),
        "requires SMTPUTF8",
    );
}

#[test]
fn mail_ignores_the_transaction_utf8_flag() {
    reply_with(
        "MAIL FROM:<jörg@b.test>".as_bytes(),
        true,
        501,
        (5, 1, 7),
        "requires SMTPUTF8",
    );
}

#[test]
fn auth_parameter_is_xtext_decoded() {
    assert_eq!(
        params("MAIL FROM:<a@b.test> AUTH=<>").auth,
        Some(String::new())
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> AUTH=+3C+3E").auth,
        Some(String::new())
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> AUTH=alice@example.com").auth,
        Some("alice@example.com".into())
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> AUTH=a+2Bb+3dc").auth,
        Some("a+b=c".into())
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> AUTH=+C3+A9").auth,
        Some("é".into())
    );
    assert_eq!(
        params("MAIL FROM:<a@b.test> AUTH=\"a+20b\"@x").auth,
        Some("\"a b\"@x".into())
    );
    assert_eq!(params("MAIL FROM:<a@b.test>").auth, None);
}

#[test]
fn auth_parameter_errors() {
    reply_to(
        b"MAIL FROM:<a@b.test> AUTH=a+0D+0Ab",
        501,
        (5, 5, 4),
        "decodes to a control character",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> AUTH=a+00",
        501,
        (5, 5, 4),
        "decodes to a control character",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> AUTH=a+4",
        501,
        (5, 5, 4),
        "'+' not followed by two hex digits",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> AUTH=a+ZZ",
        501,
        (5, 5, 4),
        "'+' not followed by two hex digits",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> AUTH=+FF",
        501,
        (5, 5, 4),
        "does not decode to UTF-8",
    );
    reply_to(
        "MAIL FROM:<a@b.test> AUTH=jörg".as_bytes(),
        501,
        (5, 5, 4),
        "is not xtext",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> AUTH",
        501,
        (5, 5, 4),
        "AUTH parameter needs a value",
    );
}

#[test]
fn several_parameters() {
    let (path, params) = mail("MAIL FROM:<a@b.test> SIZE=10 BODY=8BITMIME SMTPUTF8 AUTH=<>");
    assert_eq!(path, sender("a", "b.test"));
    assert_eq!(
        params,
        MailParams {
            size: Some(10),
            body: Body::EightBitMime,
            smtputf8: true,
            auth: Some(String::new()),
        }
    );
    assert_eq!(params_of_spaced(), Some(10));
}

fn params_of_spaced() -> Option<u64> {
    params("MAIL FROM: <a@b.test>  SIZE=10 ").size
}

#[test]
fn duplicate_parameter_is_refused() {
    reply_to(
        b"MAIL FROM:<a@b> SIZE=10 SIZE=20",
        501,
        (5, 5, 4),
        "Duplicate parameter SIZE",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> size=10 SIZE=10",
        501,
        (5, 5, 4),
        "Duplicate parameter SIZE",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> SMTPUTF8 SMTPUTF8",
        501,
        (5, 5, 4),
        "Duplicate parameter SMTPUTF8",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> BODY=7BIT BODY=8BITMIME",
        501,
        (5, 5, 4),
        "Duplicate parameter BODY",
    );
}

#[test]
fn unknown_parameter_is_unsupported() {
    reply_to(
        b"MAIL FROM:<a@b.test> RET=HDRS",
        555,
        (5, 5, 4),
        "Unsupported parameter RET",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE=1 X-Foo",
        555,
        (5, 5, 4),
        "Unsupported parameter X-Foo",
    );
}

#[test]
fn malformed_parameter_is_a_syntax_error() {
    reply_to(
        b"MAIL FROM:<a@b.test> -X",
        501,
        (5, 5, 4),
        "Syntax error in parameter \"-X\"",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> =1",
        501,
        (5, 5, 4),
        "Syntax error in parameter",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE==1",
        501,
        (5, 5, 4),
        "Syntax error in parameter",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> SIZE=1\tBODY=7BIT",
        501,
        (5, 5, 4),
        "Syntax error in parameter",
    );
    reply_to(
        b"MAIL FROM:<a@b.test> X_Y",
        501,
        (5, 5, 4),
        "Syntax error in parameter",
    );
}

// --- RCPT ------------------------------------------------------------------------------

#[test]
fn rcpt_to() {
    assert_eq!(
        ok("RCPT TO:<bob@Example.com>"),
        Command::Rcpt(mailbox("bob", "example.com"))
    );
    assert_eq!(
        ok("RCPT TO: <bob@example.com>"),
        Command::Rcpt(mailbox("bob", "example.com"))
    );
}

#[test]
fn rcpt_to_bare_postmaster() {
    assert_eq!(
        ok("RCPT TO:<Postmaster>"),
        Command::Rcpt(mailbox("Postmaster", ""))
    );
}

#[test]
fn rcpt_to_relay_tricks_keep_the_last_domain() {
    assert_eq!(
        ok("RCPT TO:<user%remote.example@local.test>"),
        Command::Rcpt(mailbox("user%remote.example", "local.test"))
    );
    assert_eq!(
        ok("RCPT TO:<@local.test:user@remote.example>"),
        Command::Rcpt(mailbox("user", "remote.example"))
    );
    assert_eq!(
        ok(r#"RCPT TO:<"user@remote.example"@local.test>"#),
        Command::Rcpt(mailbox(r#""user@remote.example""#, "local.test"))
    );
}

#[test]
fn rcpt_syntax_errors() {
    for line in [
        "RCPT",
        "RCPT TO:",
        "RCPT FROM:<a@b.test>",
        "RCPT TO <a@b.test>",
        "RCPT TO:  <a@b.test>",
    ] {
        reply_to(line.as_bytes(), 501, (5, 5, 4), "Syntax: RCPT TO:<address>");
    }
}

#[test]
fn rcpt_bad_recipient_addresses() {
    reply_to(
        b"RCPT TO:<>",
        501,
        (5, 1, 3),
        "Bad recipient address syntax: the null path <> is not a valid recipient",
    );
    reply_to(
        b"RCPT TO:<user@remote.example@local.test>",
        501,
        (5, 1, 3),
        "more than one '@'",
    );
    reply_to(
        b"RCPT TO:<user@local.test.>",
        501,
        (5, 1, 3),
        "ends with a dot",
    );
    reply_to(b"RCPT TO:bob@example.com", 501, (5, 1, 3), "missing '<'");
    reply_to(b"RCPT TO:<bob>", 501, (5, 1, 3), "missing '@'");
}

#[test]
fn rcpt_parameters_are_unsupported() {
    reply_to(
        b"RCPT TO:<a@b.test> NOTIFY=NEVER",
        555,
        (5, 5, 4),
        "Unsupported parameter NOTIFY",
    );
    reply_to(
        b"RCPT TO:<a@b.test> SIZE=1",
        555,
        (5, 5, 4),
        "Unsupported parameter SIZE",
    );
    reply_to(
        b"RCPT TO:<a@b.test> =x",
        501,
        (5, 5, 4),
        "Syntax error in parameter",
    );
}

#[test]
fn rcpt_utf8_follows_the_transaction() {
    reply_with(
        "RCPT TO:<jörg@b.test>".as_bytes(),
        false,
        501,
        (5, 1, 3),
        "requires SMTPUTF8",
    );
    assert_eq!(
        ok_with("RCPT TO:<jörg@B.test>", true),
        Command::Rcpt(mailbox("jörg", "b.test"))
    );
    // The SMTPUTF8 parameter belongs to MAIL, not RCPT.
    reply_with(
        "RCPT TO:<jörg@b.test> SMTPUTF8".as_bytes(),
        false,
        555,
        (5, 5, 4),
        "Unsupported parameter SMTPUTF8",
    );
}

// --- commands without arguments ----------------------------------------------------------

#[test]
fn commands_without_arguments() {
    assert_eq!(ok("DATA"), Command::Data);
    assert_eq!(ok("RSET"), Command::Rset);
    assert_eq!(ok("QUIT"), Command::Quit);
    assert_eq!(ok("STARTTLS"), Command::StartTls);
    assert_eq!(ok("DATA "), Command::Data);
}

#[test]
fn commands_without_arguments_refuse_one() {
    reply_to(b"DATA now", 501, (5, 5, 4), "Syntax: DATA");
    reply_to(b"RSET x", 501, (5, 5, 4), "Syntax: RSET");
    reply_to(b"QUIT please", 501, (5, 5, 4), "Syntax: QUIT");
    reply_to(b"STARTTLS x", 501, (5, 5, 4), "Syntax: STARTTLS");
}

#[test]
fn noop_ignores_its_argument() {
    assert_eq!(ok("NOOP"), Command::Noop);
    assert_eq!(ok("NOOP anything at all"), Command::Noop);
}

#[test]
fn vrfy_expn_help_take_text() {
    assert_eq!(
        ok("VRFY Bob Smith <bob@x.test>"),
        Command::Vrfy("Bob Smith <bob@x.test>".into())
    );
    assert_eq!(ok("EXPN staff"), Command::Expn("staff".into()));
    assert_eq!(ok("HELP"), Command::Help(String::new()));
    assert_eq!(ok("HELP MAIL"), Command::Help("MAIL".into()));
    reply_to(b"VRFY", 501, (5, 5, 4), "Syntax: VRFY string");
    reply_to(b"EXPN ", 501, (5, 5, 4), "Syntax: EXPN string");
}

// --- BDAT ----------------------------------------------------------------------------------

#[test]
fn bdat() {
    assert_eq!(ok("BDAT 1000"), Command::Bdat(1000, false));
    assert_eq!(ok("BDAT 0 LAST"), Command::Bdat(0, true));
    assert_eq!(ok("bdat 42 Last"), Command::Bdat(42, true));
    assert_eq!(
        ok("BDAT 18446744073709551615"),
        Command::Bdat(u64::MAX, false)
    );
}

#[test]
fn bdat_errors() {
    reply_to(
        b"BDAT 99999999999999999999999",
        501,
        (5, 5, 4),
        "BDAT chunk size 99999999999999999999999 is too large",
    );
    for line in [
        "BDAT",
        "BDAT x",
        "BDAT -1",
        "BDAT +1",
        "BDAT 1 MORE",
        "BDAT 1 LAST x",
        "BDAT LAST",
    ] {
        reply_to(
            line.as_bytes(),
            501,
            (5, 5, 4),
            "Syntax: BDAT chunk-size [LAST]",
        );
    }
}

// --- AUTH ----------------------------------------------------------------------------------

#[test]
fn auth() {
    assert_eq!(ok("AUTH PLAIN"), Command::Auth("PLAIN".into(), None));
    assert_eq!(
        ok("AUTH plain AGFsaWNlAHNlY3JldA=="),
        Command::Auth("PLAIN".into(), Some("AGFsaWNlAHNlY3JldA==".into()))
    );
    assert_eq!(
        ok("AUTH PLAIN ="),
        Command::Auth("PLAIN".into(), Some("=".into()))
    );
    assert_eq!(
        ok("AUTH scram-sha-256"),
        Command::Auth("SCRAM-SHA-256".into(), None)
    );
    assert_eq!(ok("AUTH X_Y-1"), Command::Auth("X_Y-1".into(), None));
}

#[test]
fn auth_errors() {
    for line in [
        "AUTH",
        "AUTH PLAIN a b",
        "AUTH PL@IN",
        "AUTH ABCDEFGHIJKLMNOPQRSTU",
        "AUTH PLÄIN",
    ] {
        reply_to(
            line.as_bytes(),
            501,
            (5, 5, 4),
            "Syntax: AUTH mechanism [initial-response]",
        );
    }
}

// --- lines that are not commands --------------------------------------------------------

#[test]
fn unknown_verbs() {
    for line in [
        "FOO",
        "FOO bar",
        "MAILFROM:<a@b.test>",
        "EHLOx a.test",
        "DATA:",
        "D ATA",
    ] {
        reply_to(line.as_bytes(), 500, (5, 5, 2), "Command unrecognized");
    }
}

#[test]
fn exact_wire_form_of_unrecognized() {
    let r = parse_command(b"XYZZY", false).unwrap_err();
    assert_eq!(r.to_bytes(), b"500 5.5.2 Command unrecognized\r\n");
}

#[test]
fn non_ascii_verb_is_unrecognized() {
    reply_to("DÄTA".as_bytes(), 500, (5, 5, 2), "Command unrecognized");
    reply_to(
        "ＤＡＴＡ".as_bytes(),
        500,
        (5, 5, 2),
        "Command unrecognized",
    );
}

#[test]
fn empty_and_blank_lines() {
    reply_to(b"", 500, (5, 5, 2), "Syntax error: empty command");
    reply_to(b"   ", 500, (5, 5, 2), "Syntax error: empty command");
    reply_to(b"\t", 500, (5, 5, 2), "Syntax error: empty command");
    reply_to(b" DATA", 500, (5, 5, 2), "Command unrecognized");
}

#[test]
fn cr_inside_a_verb_never_reads_as_data() {
    reply_to(
        b"DA\rTA",
        500,
        (5, 5, 2),
        "Syntax error: control character in command",
    );
    reply_to(b"DATA\r", 500, (5, 5, 2), "control character");
    reply_to(b"\rDATA", 500, (5, 5, 2), "control character");
}

#[test]
fn any_control_character_anywhere_is_refused() {
    for line in [
        &b"DA\0TA"[..],
        b"DATA\n",
        b"NOOP \x1b[31m",
        b"HELP \x7f",
        b"MAIL FROM:<a@b.test>\rRCPT TO:<c@d.test>",
        b"RCPT TO:<a\0@b.test>",
        b"EHLO a\x0bb",
        b"VRFY \x08bob",
        "HELP \u{85}".as_bytes(),
    ] {
        reply_to(
            line,
            500,
            (5, 5, 2),
            "Syntax error: control character in command",
        );
    }
}

#[test]
fn tab_is_not_a_control_character_here() {
    assert_eq!(ok("NOOP\tx"), Command::Noop);
    // ... but it is not allowed inside a path.
    reply_to(
        b"RCPT TO:<a\t@b.test>",
        501,
        (5, 1, 3),
        "control character '\\t'",
    );
}

#[test]
fn invalid_utf8_is_refused() {
    reply_to(
        b"EHLO \xff",
        500,
        (5, 5, 2),
        "Syntax error: invalid UTF-8 in command",
    );
    reply_to(
        b"MAIL FROM:<\xc3@b.test> SMTPUTF8",
        500,
        (5, 5, 2),
        "invalid UTF-8",
    );
    reply_with(
        b"RCPT TO:<\xe9@b.test>",
        true,
        500,
        (5, 5, 2),
        "invalid UTF-8",
    );
    reply_to(b"\xffDATA", 500, (5, 5, 2), "invalid UTF-8");
}

#[test]
fn decimal_parsing() {
    assert!(matches!(parse_decimal("0"), Ok(0)));
    assert!(matches!(parse_decimal("007"), Ok(7)));
    assert!(matches!(parse_decimal(""), Err(DecimalError::NotDigits)));
    assert!(matches!(parse_decimal("+1"), Err(DecimalError::NotDigits)));
    assert!(matches!(
        parse_decimal("18446744073709551616"),
        Err(DecimalError::TooLarge)
    ));
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in prop::collection::vec(any::<u8>(), 0..200), utf8 in any::<bool>()) {
            let _ = parse_command(&line, utf8);
        }

        #[test]
        fn a_line_with_a_cr_or_nul_is_never_a_command(
            prefix in "[ -~]{0,20}",
            bad in prop::sample::select(vec!['\r', '\n', '\0']),
            suffix in "[ -~]{0,20}",
        ) {
            let line = format!("{prefix}{bad}{suffix}");
            let r = parse_command(line.as_bytes(), false).unwrap_err();
            prop_assert_eq!(r.code, 500);
        }

        #[test]
        fn mail_params_text_never_panics(params in "[ -~]{0,60}") {
            let _ = parse_command(format!("MAIL FROM:<a@b.test> {params}").as_bytes(), false);
        }
    }
}
