//! The abuse-limit keys of `[limits]` (issue 7 §4) and `user` (privilege
//! drop): defaults, accepted values, refusals with one sentence.

use super::{error, load};

#[test]
fn the_abuse_limits_have_sane_defaults() {
    let cfg = load("").unwrap();
    let l = &cfg.limits;
    assert_eq!(l.connections, 500);
    assert_eq!(l.connections_per_client, 20);
    assert_eq!(l.connection_rate, 60);
    assert_eq!(l.commands_before_mail, 50);
    assert_eq!(l.session_time, 1800);
    assert_eq!(l.greeting_delay_ms, 0);
    assert_eq!(cfg.user, None);
}

#[test]
fn the_abuse_limits_are_read() {
    let cfg = load(
        "user = \"portcullis\"\n[limits]\nconnections = 3\nconnections_per_client = 2\n\
         connection_rate = 5\ncommands_before_mail = 7\nsession_time = 60\ngreeting_delay_ms = 250\n",
    )
    .unwrap();
    let l = &cfg.limits;
    assert_eq!(
        (
            l.connections,
            l.connections_per_client,
            l.connection_rate,
            l.commands_before_mail,
            l.session_time,
            l.greeting_delay_ms
        ),
        (3, 2, 5, 7, 60, 250)
    );
    assert_eq!(cfg.user.as_deref(), Some("portcullis"));
}

#[test]
fn bad_limits_are_refused_naming_key_and_value() {
    for (text, key, value) in [
        ("[limits]\nconnections = 0", "limits.connections", "0"),
        (
            "[limits]\nconnections_per_client = -1",
            "limits.connections_per_client",
            "-1",
        ),
        (
            "[limits]\nconnection_rate = 0",
            "limits.connection_rate",
            "0",
        ),
        (
            "[limits]\ncommands_before_mail = 0",
            "limits.commands_before_mail",
            "0",
        ),
        (
            "[limits]\nsession_time = 100000",
            "limits.session_time",
            "100000",
        ),
        (
            "[limits]\ngreeting_delay_ms = -5",
            "limits.greeting_delay_ms",
            "-5",
        ),
        (
            "[limits]\ngreeting_delay_ms = 60001",
            "limits.greeting_delay_ms",
            "60001",
        ),
    ] {
        let e = error(text);
        assert!(e.contains(key) && e.contains(value), "{text:?}: {e}");
    }
    // A zero delay is allowed: the early-talker check runs without waiting.
    assert!(load("[limits]\ngreeting_delay_ms = 0").is_ok());
}

#[test]
fn user_must_be_an_account_name() {
    for bad in ["", "Root", "1abc", "-x", "a b", "a/b", &"x".repeat(33)] {
        let e = error(&format!("user = {bad:?}"));
        assert!(e.contains("user"), "{bad:?}: {e}");
    }
    for good in ["nobody", "portcullis", "_mail", "mail-in2"] {
        assert_eq!(
            load(&format!("user = {good:?}")).unwrap().user.as_deref(),
            Some(good)
        );
    }
}

#[test]
fn a_tenth_of_the_connections_is_reserved_for_trusted_clients_unless_set() {
    let l = load("").unwrap().limits;
    assert_eq!((l.connections, l.connections_reserved), (500, 50));
    let l = load("[limits]\nconnections = 40").unwrap().limits;
    assert_eq!(l.connections_reserved, 4);
    let l = load("[limits]\nconnections = 40\nconnections_reserved = 0")
        .unwrap()
        .limits;
    assert_eq!(l.connections_reserved, 0);
    let l = load("[limits]\nconnections = 40\nconnections_reserved = 39")
        .unwrap()
        .limits;
    assert_eq!(l.connections_reserved, 39);
    // Nothing left for everyone else, or a negative share: refused.
    for value in ["40", "41", "-1"] {
        let e = error(&format!(
            "[limits]\nconnections = 40\nconnections_reserved = {value}"
        ));
        assert!(
            e.contains("limits.connections_reserved")
                && e.contains(value)
                && e.contains("less than limits.connections"),
            "{e}"
        );
    }
}

#[test]
fn password_checks_default_to_one_per_core_with_64_waiting() {
    let l = load("").unwrap().limits;
    assert_eq!((l.password_checks, l.password_checks_waiting), (0, 64));
    let l = load("[limits]\npassword_checks = 2\npassword_checks_waiting = 0")
        .unwrap()
        .limits;
    assert_eq!((l.password_checks, l.password_checks_waiting), (2, 0));
    for (text, key) in [
        ("[limits]\npassword_checks = -1", "limits.password_checks"),
        ("[limits]\npassword_checks = 5000", "limits.password_checks"),
        (
            "[limits]\npassword_checks_waiting = -3",
            "limits.password_checks_waiting",
        ),
    ] {
        let e = error(text);
        assert!(e.contains(key), "{text:?}: {e}");
    }
}
