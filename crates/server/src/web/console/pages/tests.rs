//! What the pages show, read from their HTML.

use std::collections::HashMap;

use portcullis_relay::RelayList;

use super::layout::{page, Viewer};
use super::login::login;
use super::relay::{relay, Question, Switches};
use crate::admin::relay::{Verdict, VerdictKind};

const CSRF: &str = "0123abcd";

fn report(entries: &[&str]) -> portcullis_relay::report::LoadReport {
    let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    RelayList::compile(&entries, &HashMap::new(), None).1
}

fn switches() -> Switches {
    Switches {
        restricted: true,
        local_only: false,
        authenticated: true,
    }
}

#[test]
fn each_entry_shows_its_compiled_form_or_why_it_is_skipped() {
    let html = relay(
        CSRF,
        &switches(),
        &report(&["192.168.40-43.*", "192.168.300.*"]),
        &Question::default(),
        None,
    )
    .into_string();
    assert!(html.contains("added 192.168.40.0"), "{html}");
    assert!(html.contains("192.168.43.255"), "{html}");
    assert!(html.contains("skipped: "), "{html}");
    assert!(html.contains("192.168.300.*"), "{html}");
}

#[test]
fn every_change_form_carries_the_csrf_token_and_questions_are_gets() {
    let html = relay(
        CSRF,
        &switches(),
        &report(&["10.0.0.0/8"]),
        &Question::default(),
        None,
    )
    .into_string();
    let posts = html.matches(r#"method="post""#).count();
    // Switches, add, and the one form the entries' buttons share.
    assert_eq!(posts, 3, "{html}");
    let tokens = html
        .matches(&format!(r#"name="csrf" value="{CSRF}""#))
        .count();
    assert_eq!(tokens, posts, "{html}");
    assert_eq!(buttons_of_shared_forms(&html), 3, "up, down, remove");
    assert!(html.contains(r#"form method="get" action="/console/relay#check""#));
}

/// Checks that every button outside its form (`form="ID"`) names a POST
/// form of the page that carries the CSRF token; returns how many there are.
fn buttons_of_shared_forms(html: &str) -> usize {
    let ids: Vec<&str> = html
        .split(r#" form=""#)
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    for id in &ids {
        let at = html
            .find(&format!(r#"<form id="{id}" method="post""#))
            .unwrap_or_else(|| panic!("no POST form {id}: {html}"));
        let form = &html[at..at + html[at..].find("</form>").unwrap()];
        assert!(
            form.contains(&format!(r#"name="csrf" value="{CSRF}""#)),
            "{form}"
        );
    }
    ids.len()
}

#[test]
fn a_refused_entry_shows_its_sentence_next_to_the_field_with_the_value_kept() {
    let html = relay(
        CSRF,
        &switches(),
        &report(&[]),
        &Question::default(),
        Some((
            "10.0.0.0/33",
            "relay.allow: \"10.0.0.0/33\": prefix length 33 is over 32",
        )),
    )
    .into_string();
    assert!(html.contains(r#"value="10.0.0.0/33""#), "{html}");
    assert!(html.contains("prefix length 33 is over 32"), "{html}");
}

#[test]
fn the_relay_answer_names_the_deciding_rule() {
    let question = Question {
        client: "192.168.41.7".into(),
        auth: String::new(),
        recipient: "bob@example.org".into(),
        page: 1,
        answer: Some(Ok(vec![Verdict {
            accepted: true,
            client: "192.168.41.7".into(),
            explanation: "relay allowed: 192.168.41.7 matches \"192.168.40-43.*\"".into(),
            kind: VerdictKind::RelayAllowed,
            reply: None,
            recipient: "bob@example.org".into(),
            rule: "relay.allow[0] \"192.168.40-43.*\"".into(),
        }])),
    };
    let html = relay(CSRF, &switches(), &report(&[]), &question, None).into_string();
    assert!(html.contains(r#"value="192.168.41.7""#));
    assert!(
        html.contains("relay allowed: 192.168.41.7 matches &quot;192.168.40-43.*&quot;"),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="rule">relay.allow[0] &quot;192.168.40-43.*&quot;</span>"#),
        "{html}"
    );
}

#[test]
fn switches_show_their_state() {
    let html = relay(CSRF, &switches(), &report(&[]), &Question::default(), None).into_string();
    assert!(
        html.contains(r#"name="restricted" value="on" checked"#),
        "{html}"
    );
    assert!(
        !html.contains(r#"name="local_only" value="on" checked"#),
        "{html}"
    );
}

#[test]
fn values_are_escaped() {
    let html = relay(
        CSRF,
        &switches(),
        &report(&["<script>x</script>"]),
        &Question::default(),
        None,
    )
    .into_string();
    assert!(!html.contains("<script>x"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    let html = login(Some("<b>no</b>"), "\"><img>").into_string();
    assert!(
        !html.contains("<b>no") && !html.contains("\"><img>"),
        "{html}"
    );
}

#[test]
fn the_frame_marks_the_current_screen_and_has_no_inline_script_or_style() {
    let viewer = Viewer {
        admin: "alice",
        csrf: CSRF,
    };
    let html = page(
        &viewer,
        "/console/relay",
        "Relay",
        maud::html! { p { "body" } },
    )
    .into_string();
    assert!(
        html.contains(r#"<a href="/console/relay" aria-current="page">Relay</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"action="/console/logout""#));
    assert!(!html.contains("<script") && !html.contains("<style") && !html.contains("style="));
}

#[test]
fn the_preview_shows_both_lists_and_saves_the_new_one_with_its_fingerprint() {
    use super::preview::preview;
    let after = vec!["!192.168.41.7".to_string(), "192.168.40-43.*".to_string()];
    let html = preview(
        CSRF,
        r#"move relay.allow[1] "!192.168.41.7" above "192.168.40-43.*""#,
        &after,
        "f00d",
        &report(&["192.168.40-43.*", "!192.168.41.7"]),
        &report(&["!192.168.41.7", "192.168.40-43.*"]),
    )
    .into_string();
    assert!(
        html.contains("move relay.allow[1] &quot;!192.168.41.7&quot; above"),
        "{html}"
    );
    assert!(html.contains("added exception 192.168.41.7"), "{html}");
    assert!(html.contains(r#"name="fingerprint" value="f00d""#));
    // The new order is what the save form posts.
    let exception = html.find(r#"name="entry" value="!192.168.41.7""#);
    let range = html.find(r#"name="entry" value="192.168.40-43.*""#);
    assert!(exception.is_some() && exception < range, "{html}");
}

#[test]
fn a_refused_user_form_shows_its_sentence_by_that_users_row_only() {
    use super::users::{users, Refusal, UserRow};
    let rows = vec![
        UserRow {
            name: "alice".into(),
            admin: true,
        },
        UserRow {
            name: "bob".into(),
            admin: false,
        },
    ];
    let refusal = Refusal {
        user: "bob",
        sentence: "the password for \"bob\" is too short",
        typed_name: "bob",
    };
    let html = users(CSRF, &rows, Some(&refusal)).into_string();
    assert_eq!(html.matches("too short").count(), 1, "{html}");
    let bob = html.find(">bob<").unwrap();
    assert!(html.find("too short").unwrap() > bob, "{html}");
    // alice is an admin: her button revokes; bob's grants.
    assert!(
        html.contains(r#"form="revoke" name="name" value="alice""#),
        "{html}"
    );
    assert!(
        html.contains(r#"form="grant" name="name" value="bob""#),
        "{html}"
    );
    assert!(html.contains(r#"<form id="revoke" method="post" action="/console/users/admin"><input type="hidden" name="csrf" value="0123abcd"><input type="hidden" name="admin" value="off">"#), "{html}");
    assert_eq!(
        html.matches(r#"method="post""#).count(),
        html.matches(r#"name="csrf""#).count()
    );
    // Only a refused add keeps its name in the add form.
    assert!(
        !html.contains(r#"name="name" value="bob" autocomplete"#),
        "{html}"
    );
    let add = Refusal {
        user: "",
        sentence: "user \"bob\" already exists",
        typed_name: "bob",
    };
    let html = users(CSRF, &rows, Some(&add)).into_string();
    assert!(
        html.contains(r#"name="name" value="bob" autocomplete"#),
        "{html}"
    );
    // Grant or revoke, and remove, for each user.
    assert_eq!(buttons_of_shared_forms(&html), 4);
}

#[test]
fn the_queue_shows_each_recipients_state_and_last_error() {
    use super::queue::queue;
    use crate::admin::queue::QueuedMessage;
    use portcullis_store::spool::Envelope;
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "version": 1, "id": "0001abc", "created": 0, "sender": "",
        "recipients": [{"address": "bob@example.org", "state": "pending",
                        "attempts": 2, "last_error": "451 4.7.1 try later",
                        "next_attempt": 0}],
        "helo": "client.example", "client_ip": null, "auth_user": null,
    }))
    .unwrap_or_else(|e| panic!("envelope fixture: {e}"));
    let html = queue(
        CSRF,
        &[QueuedMessage {
            envelope,
            size: 1234,
        }],
    )
    .into_string();
    assert!(
        html.contains("bob@example.org — pending, 2 attempts"),
        "{html}"
    );
    assert!(html.contains("451 4.7.1 try later"));
    assert!(
        html.contains("&lt;&gt;"),
        "the null sender shows as <>: {html}"
    );
    assert!(html.contains(r#"name="id" value="0001abc""#));
}

#[test]
fn decisions_are_filtered_by_client_prefix_and_rule_text() {
    use super::decisions::{decisions, DecisionRow, Filter};
    let row = |client: &str, decision: &str, rule: &str| DecisionRow {
        at: 1_796_360_400,
        client: client.into(),
        recipient: "bob@example.org".into(),
        decision: decision.into(),
        rule: rule.into(),
    };
    let rows = vec![
        row("192.168.41.7", "denied", "relay.allow[0] \"!192.168.41.7\""),
        row(
            "192.168.42.1",
            "granted",
            "relay.allow[1] \"192.168.40-43.*\"",
        ),
        row("203.0.113.9", "tempfail", "not in relay.allow"),
    ];
    let filter = Filter {
        client: "192.168.4".into(),
        rule: String::new(),
    };
    let html = decisions(&rows, &filter).into_string();
    assert!(html.contains("192.168.41.7") && html.contains("192.168.42.1"));
    assert!(!html.contains("203.0.113.9"), "{html}");
    let filter = Filter {
        client: String::new(),
        rule: "40-43".into(),
    };
    let html = decisions(&rows, &filter).into_string();
    assert!(
        html.contains("192.168.42.1") && !html.contains("192.168.41.7"),
        "{html}"
    );
    assert!(
        html.contains(r#"<td class="accepted">granted</td>"#),
        "{html}"
    );
    // Times are UTC for people, RFC 3339 for machines.
    assert!(
        html.contains(r#"<time datetime="2026-12-04T05:00:00Z">2026-12-04 05:00:00 UTC</time>"#),
        "{html}"
    );
    let all = decisions(&rows, &Filter::default()).into_string();
    assert!(
        all.contains(r#"<td class="warning">tempfail</td>"#),
        "{all}"
    );
    assert!(all.contains(r#"<td class="refused">denied</td>"#), "{all}");
}

#[test]
fn utc_times_count_from_the_epoch() {
    use super::decisions::utc;
    assert_eq!(utc(0, " ", " UTC"), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc(951_782_400, "T", "Z"), "2000-02-29T00:00:00Z");
    assert_eq!(utc(u64::MAX, " ", " UTC"), "1970-01-01 00:00:00 UTC");
}

#[test]
fn a_refused_domain_edit_shows_its_sentence_by_its_own_form() {
    use super::domains::{domains, Domains, Refusal};
    let d = Domains {
        local: vec!["example.com".into()],
        aliases: vec![("postmaster".into(), vec!["alice".into()])],
        routes: vec![("example.net".into(), "mx.internal:2525".into())],
    };
    let refusal = Refusal {
        form: "route",
        sentence: "routes.example.net: \"mx:99999\" is not a host[:port]",
        name: "example.net",
        value: "mx:99999",
    };
    let html = domains(CSRF, &d, Some(&refusal)).into_string();
    // The refused form keeps what was typed; the others are empty.
    assert!(html.contains(r#"name="value" value="mx:99999""#), "{html}");
    assert_eq!(html.matches(r#"value="example.net""#).count(), 2, "{html}");
    let routes = html.find(r#"id="routes""#).unwrap();
    assert!(
        html.find("is not a host[:port]").unwrap() > routes,
        "{html}"
    );
    assert!(html.contains("mx.internal:2525") && html.contains("postmaster"));
    assert_eq!(
        html.matches(r#"method="post""#).count(),
        html.matches(r#"name="csrf""#).count()
    );
}

#[test]
fn after_a_change_the_page_shows_what_changed_and_the_reload_report() {
    use super::report::change_report;
    use crate::admin::config::Edited;
    let edited = Edited {
        key: "relay.restricted".into(),
        before: Some("false".into()),
        after: "true".into(),
        needs_restart: false,
        data_dir: "/var/lib/portcullis".into(),
        warnings: vec![],
    };
    let reload = Ok(vec!["relay list: 2 entries added, 0 skipped".to_string()]);
    let html = change_report(&edited, &reload).into_string();
    assert!(
        html.contains("<code>relay.restricted</code>: <code>false</code> → <code>true</code>"),
        "{html}"
    );
    assert!(html.contains("2 entries added"), "{html}");
    let html = change_report(&edited, &Err("no server is running".into())).into_string();
    assert!(
        html.contains("Not reloaded: no server is running"),
        "{html}"
    );
}

#[test]
fn settings_show_each_key_with_a_form_and_a_refusal_under_its_own_field() {
    use super::settings::{settings, Refusal, Row};
    let row = |key: &str, value: &str, default: bool| Row {
        key: key.into(),
        value: value.into(),
        default,
    };
    let rows = [
        row("auth.mechanisms", "CRAM-MD5", false),
        row("auth.plaintext_requires_tls", "true", true),
        row("auth.ban_after", "10", true),
    ];
    let refusal = Refusal {
        key: "auth.ban_after",
        value: "ten",
        sentence: "invalid auth.ban_after ten: expected a whole number",
    };
    let html = settings(CSRF, "auth", &rows, Some(&refusal)).into_string();
    // Set and Default for each of the three keys, each with the token.
    let posts = html.matches(r#"method="post""#).count();
    assert_eq!(posts, 6, "{html}");
    let tokens = html
        .matches(&format!(r#"name="csrf" value="{CSRF}""#))
        .count();
    assert_eq!(tokens, posts, "{html}");
    assert!(html.contains(r#"<tr id="set-auth-mechanisms">"#), "{html}");
    assert!(html.contains(r#"value="CRAM-MD5""#), "{html}");
    assert!(html.contains(r#"<option value="true" selected>"#), "{html}");
    // The refusal sits in its key's row, with the value as typed.
    let ban = &html[html.find(r#"id="set-auth-ban-after""#).unwrap()..];
    assert!(ban.contains(r#"value="ten""#), "{ban}");
    assert!(ban.contains("expected a whole number"), "{ban}");
    let before_ban = &html[..html.find(r#"id="set-auth-ban-after""#).unwrap()];
    assert!(!before_ban.contains("field-error"), "{before_ban}");
}

#[test]
fn keys_with_a_screen_of_their_own_link_to_it() {
    use super::settings::{settings, Row};
    let rows = [Row {
        key: "relay.allow".into(),
        value: "127.0.0.1 ::1".into(),
        default: true,
    }];
    let html = settings(CSRF, "relay", &rows, None).into_string();
    assert!(!html.contains(r#"method="post""#), "{html}");
    assert!(html.contains(r#"href="/console/relay""#), "{html}");
    assert!(html.contains(r#"aria-current="page">relay<"#), "{html}");
}

#[test]
fn the_admin_listen_row_warns_that_it_can_close_the_console() {
    use super::settings::{settings, Row};
    let rows = [Row {
        key: "admin.listen".into(),
        value: "127.0.0.1:2580".into(),
        default: true,
    }];
    let html = settings(CSRF, "admin", &rows, None).into_string();
    assert!(html.contains("closes the console"), "{html}");
}
