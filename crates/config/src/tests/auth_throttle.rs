//! The brute-force defence keys of `[auth]`: defaults, values, the sentence
//! for each bad value, and `auth.never_ban` entries checked like
//! `relay.allow` notations but refused instead of skipped.

use super::{error, load, PATH};
use crate::{edit, EditOp};

#[test]
fn the_throttle_keys_default_to_a_15_minute_ban_after_10_failures() {
    let auth = load("").unwrap().auth;
    assert_eq!(
        (
            auth.delay_after,
            auth.delay_seconds,
            auth.ban_after,
            auth.ban_seconds,
            auth.window_seconds
        ),
        (3, 2, 10, 900, 900)
    );
    assert!(auth.never_ban.is_empty());
}

#[test]
fn the_throttle_keys_are_read_from_the_auth_table() {
    let auth = load(
        "[auth]\n\
         delay_after = 5\n\
         delay_seconds = 1\n\
         ban_after = 20\n\
         ban_seconds = 3600\n\
         window_seconds = 600\n\
         never_ban = [\"192.168.40-43.*\", \" 2001:db8::/32 \", \"ops.example.com\", \"!10.0.0.1\"]\n",
    )
    .unwrap()
    .auth;
    assert_eq!(
        (
            auth.delay_after,
            auth.delay_seconds,
            auth.ban_after,
            auth.ban_seconds,
            auth.window_seconds
        ),
        (5, 1, 20, 3600, 600)
    );
    assert_eq!(
        auth.never_ban,
        [
            "192.168.40-43.*",
            "2001:db8::/32",
            "ops.example.com",
            "!10.0.0.1"
        ]
    );
}

#[test]
fn bad_throttle_values_are_refused_with_one_sentence() {
    let cases = [
        (
            "[auth]\nban_after = 0",
            "invalid auth.ban_after 0 in F: must be a positive whole number",
        ),
        (
            "[auth]\ndelay_after = -3",
            "invalid auth.delay_after -3 in F: must be a positive whole number",
        ),
        (
            "[auth]\ndelay_seconds = 31",
            "invalid auth.delay_seconds 31 in F: must be at most 30",
        ),
        (
            "[auth]\nban_seconds = 2592001",
            "invalid auth.ban_seconds 2592001 in F: must be at most 2592000",
        ),
        (
            "[auth]\nwindow_seconds = \"15 minutes\"",
            r#"invalid auth.window_seconds "15 minutes" in F: expected seconds or a duration such as "30s", "5m", "2h" or "5d""#,
        ),
        (
            "[auth]\nnever_ban = \"10.0.0.1\"",
            r#"invalid auth.never_ban "10.0.0.1" in F: expected a list of strings"#,
        ),
        (
            "[auth]\nnever_ban = [\"127.0.0.1\", \"10.0.0.300\"]",
            r#"invalid auth.never_ban "10.0.0.300" in F: octet 300 is over 255"#,
        ),
        (
            "[auth]\nnever_ban = [\"\"]",
            r#"invalid auth.never_ban "" in F: the entry is empty"#,
        ),
    ];
    for (text, sentence) in cases {
        assert_eq!(
            error(text),
            sentence.replace(" F", &format!(" {PATH}")),
            "for {text:?}"
        );
    }
}

#[test]
fn config_add_refuses_a_malformed_never_ban_entry_and_accepts_a_good_one() {
    let text = "[auth]\nnever_ban = []  # the operator's networks\n";
    let err = edit(
        text,
        EditOp::Add("auth.never_ban".into(), vec!["192.168.1.0/33".into()]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("192.168.1.0/33"), "{err}");
    let out = edit(
        text,
        EditOp::Add("auth.never_ban".into(), vec!["192.168.1.0/24".into()]),
    )
    .unwrap();
    assert_eq!(
        out,
        "[auth]\nnever_ban = [\"192.168.1.0/24\"]  # the operator's networks\n"
    );
    let out = edit(&out, EditOp::Set("auth.ban_after".into(), vec!["5".into()])).unwrap();
    assert_eq!(load(&out).unwrap().auth.ban_after, 5);
}
