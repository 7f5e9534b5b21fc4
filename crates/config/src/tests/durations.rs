//! Durations (issue 12): every duration key takes a bare number in its unit
//! or a number with a unit, `30s`, `5m`, `2h`, `5d` (`500ms` for `_ms` keys).

use super::super::edit::{edit, EditOp};
use super::{error, load};

#[test]
fn duration_keys_take_units() {
    let cfg = load(
        "[queue]\nlifetime = \"5d\"\nretry_min = \"30s\"\nretry_max = \"2h\"\ndelay_warning = \"4h\"\n\
         [limits]\ncommand_timeout = \"5m\"\ngreeting_delay_ms = \"2s\"\n\
         [auth]\nban_seconds = \"15m\"\n[dns]\ntimeout_ms = \"500ms\"\n",
    )
    .unwrap();
    assert_eq!(cfg.queue.lifetime, 5 * 86_400);
    assert_eq!(cfg.queue.retry_min, 30);
    assert_eq!(cfg.queue.retry_max, 7200);
    assert_eq!(cfg.queue.delay_warning, 4 * 3600);
    assert_eq!(cfg.limits.command_timeout, 300);
    assert_eq!(cfg.limits.greeting_delay_ms, 2000);
    assert_eq!(cfg.auth.ban_seconds, 900);
    assert_eq!(cfg.dns.timeout_ms, 500);
    // Bare numbers keep their meaning.
    assert_eq!(
        load("[queue]\nlifetime = 3600\n").unwrap().queue.lifetime,
        3600
    );
}

#[test]
fn a_bad_duration_is_named_and_limits_still_apply() {
    let e = error("[queue]\nlifetime = \"5 days\"\n");
    assert!(e.contains("invalid queue.lifetime \"5 days\""), "{e}");
    assert!(e.contains("\"30s\", \"5m\", \"2h\" or \"5d\""), "{e}");
    let e = error("[queue]\nlifetime = \"500ms\"\n");
    assert!(e.contains("invalid queue.lifetime"), "{e}");
    let e = error("[limits]\ncommand_timeout = \"2d\"\n");
    assert!(e.contains("must be at most 86400"), "{e}");
    let e = error("[queue]\nlifetime = \"99999999999999999d\"\n");
    assert!(e.contains("too long"), "{e}");
}

#[test]
fn config_set_writes_a_duration_as_given() {
    let out = edit("", EditOp::Set("queue.lifetime".into(), vec!["5d".into()])).unwrap();
    assert!(out.contains("lifetime = \"5d\""), "{out}");
    let out = edit(
        "",
        EditOp::Set("queue.lifetime".into(), vec!["3600".into()]),
    )
    .unwrap();
    assert!(out.contains("lifetime = 3600"), "{out}");
    let e = edit("", EditOp::Set("queue.lifetime".into(), vec!["5y".into()])).unwrap_err();
    assert!(
        e.to_string().contains("invalid queue.lifetime \"5y\""),
        "{e}"
    );
}
