//! Tests of the parent module.

use super::*;
use crate::users::Credentials;

fn users(names: &[&str]) -> UserDb {
    // One real enrolment reused: resolution only looks at names.
    let creds = Credentials::derive_with("pw", &crate::users::cheap_argon2_for_tests(), 1).unwrap();
    let mut db = UserDb::new();
    for name in names {
        db.add(name, creds.clone()).unwrap();
    }
    db
}

fn aliases(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

fn mailbox(name: &str) -> Target {
    Target::Mailbox(name.to_string())
}

fn remote(addr: &str) -> Target {
    Target::Remote(addr.to_string())
}

fn missing(name: &str) -> Target {
    Target::Missing(name.to_string())
}

fn deliver(targets: Vec<Target>) -> LocalResolution {
    LocalResolution::Deliver(targets)
}

#[test]
fn users_resolve_case_insensitively_and_strangers_are_unknown() {
    let db = users(&["alice"]);
    let none = aliases(&[]);
    assert_eq!(
        resolve_local("alice", &none, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("ALICE", &none, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("mallory", &none, &db),
        LocalResolution::Unknown
    );
    assert_eq!(resolve_local("", &none, &db), LocalResolution::Unknown);
    // docs/reference.md §3: '%' and '!' are just characters of a local name.
    assert_eq!(
        resolve_local("alice%remote.example", &none, &db),
        LocalResolution::Unknown
    );
}

#[test]
fn plus_addressing_falls_back_to_the_part_before_the_first_plus() {
    let db = users(&["alice", "bob"]);
    let map = aliases(&[("team", &["alice"]), ("bob+lists", &["alice"])]);
    assert_eq!(
        resolve_local("alice+news", &map, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("Alice+a+b", &map, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("team+x", &map, &db),
        deliver(vec![mailbox("alice")])
    );
    // The full name wins when it exists itself.
    assert_eq!(
        resolve_local("bob+lists", &map, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("bob+other", &map, &db),
        deliver(vec![mailbox("bob")])
    );
    assert_eq!(resolve_local("+alice", &map, &db), LocalResolution::Unknown);
    assert_eq!(
        resolve_local("carol+x", &map, &db),
        LocalResolution::Unknown
    );
}

#[test]
fn aliases_expand_recursively_to_mailboxes_and_remote_addresses() {
    let db = users(&["alice", "bob"]);
    let map = aliases(&[
        ("sales", &["alice", "team"]),
        ("team", &["bob", "Carol@Remote.EXAMPLE", "alice"]),
    ]);
    assert_eq!(
        resolve_local("Sales", &map, &db),
        deliver(vec![
            mailbox("alice"),
            mailbox("bob"),
            remote("Carol@remote.example")
        ])
    );
}

#[test]
fn an_alias_wins_over_a_user_of_the_same_name() {
    let db = users(&["alice", "bob"]);
    let map = aliases(&[("alice", &["bob"])]);
    assert_eq!(
        resolve_local("alice", &map, &db),
        deliver(vec![mailbox("bob")])
    );
}

#[test]
fn an_alias_to_itself_keeps_a_copy_in_the_users_mailbox() {
    let db = users(&["alice"]);
    let map = aliases(&[("alice", &["alice", "alice@elsewhere.example"])]);
    assert_eq!(
        resolve_local("alice", &map, &db),
        deliver(vec![mailbox("alice"), remote("alice@elsewhere.example")])
    );
}

#[test]
fn loops_between_aliases_terminate() {
    let db = users(&["alice"]);
    let map = aliases(&[
        ("a", &["b", "alice"]),
        ("b", &["a"]),
        ("x", &["y"]),
        ("y", &["x"]),
    ]);
    assert_eq!(
        resolve_local("a", &map, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("b", &map, &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(resolve_local("x", &map, &db), LocalResolution::Unknown);
}

#[test]
fn nesting_is_limited_to_ten_aliases() {
    let db = users(&["alice"]);
    let chain = |len: usize| {
        let mut map = BTreeMap::new();
        for i in 0..len {
            let next = if i + 1 == len {
                "alice".to_string()
            } else {
                format!("a{}", i + 1)
            };
            map.insert(format!("a{i}"), vec![next]);
        }
        map
    };
    assert_eq!(
        resolve_local("a0", &chain(10), &db),
        deliver(vec![mailbox("alice")])
    );
    assert_eq!(
        resolve_local("a0", &chain(11), &db),
        LocalResolution::Unknown
    );
}

#[test]
fn targets_are_deduplicated_and_dangling_ones_marked_missing() {
    let db = users(&["alice", "bob"]);
    let map = aliases(&[
        (
            "all",
            &[
                "alice",
                "ALICE",
                "bob",
                "alice+tag",
                "ghost",
                "x@r.example",
                "x@R.example",
                "@",
                "dev",
            ],
        ),
        ("dev", &["bob"]),
        ("nobody", &["ghost"]),
    ]);
    assert_eq!(
        resolve_local("all", &map, &db),
        deliver(vec![
            mailbox("alice"),
            mailbox("bob"),
            missing("ghost"),
            remote("x@r.example")
        ])
    );
    // Nothing receives: refused at RCPT, not accepted and bounced.
    assert_eq!(resolve_local("nobody", &map, &db), LocalResolution::Unknown);
}

#[test]
fn dangling_targets_are_named_at_edit_time() {
    let db = users(&["alice"]);
    let map = aliases(&[
        (
            "sales",
            &["alice", "Ghost", "alice+tag", "team", "bob@remote.example"],
        ),
        (
            "team",
            &["alice@local.test", "nobody@LOCAL.test", "postmaster"],
        ),
    ]);
    let found = dangling_targets(&map, &db, &["local.test".to_string()]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("aliases.sales: target \"Ghost\" is no local user"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("aliases.team: target \"nobody@LOCAL.test\""),
        "{found:?}"
    );
    assert!(found[0].contains("5.1.1"));
    assert!(dangling_targets(&aliases(&[("a", &["alice"])]), &db, &[]).is_empty());
}

#[test]
fn postmaster_always_resolves() {
    let db = users(&["alice"]);
    // RFC 5321 §4.5.1: no user, no alias: its own Maildir.
    assert_eq!(
        resolve_local("PostMaster", &aliases(&[]), &db),
        deliver(vec![mailbox("postmaster")])
    );
    assert_eq!(
        resolve_local("postmaster+x", &aliases(&[]), &db),
        deliver(vec![mailbox("postmaster")])
    );
    // Aliased: wherever the alias says.
    let map = aliases(&[("postmaster", &["alice", "root@admin.example"])]);
    assert_eq!(
        resolve_local("postmaster", &map, &db),
        deliver(vec![mailbox("alice"), remote("root@admin.example")])
    );
    // An alias that leads nowhere still leaves postmaster deliverable.
    let broken = aliases(&[("postmaster", &["ghost"])]);
    assert_eq!(
        resolve_local("postmaster", &broken, &db),
        deliver(vec![mailbox("postmaster")])
    );
    // A target naming postmaster reaches its Maildir.
    let to_pm = aliases(&[("abuse", &["postmaster"])]);
    assert_eq!(
        resolve_local("abuse", &to_pm, &db),
        deliver(vec![mailbox("postmaster")])
    );
}

#[test]
fn targets_route_to_maildirs_and_the_queue_with_missing_names_in_the_domain() {
    let routes = route(
        vec![
            Target::Mailbox("alice".into()),
            Target::Remote("bob@elsewhere.example".into()),
            Target::Missing("carol".into()),
        ],
        "local.test",
    );
    assert_eq!(routes.mailboxes, ["alice"]);
    assert_eq!(routes.queued, ["bob@elsewhere.example", "carol@local.test"]);
}

#[test]
fn a_domain_user_is_a_mailbox_of_its_domain_only_and_comes_first() {
    let db = users(&["alice@example.com", "bob", "carol@example.com", "carol"]);
    let none = aliases(&[]);
    let mbox = |n: &str| LocalResolution::Deliver(vec![Target::Mailbox(n.into())]);
    assert_eq!(
        resolve_in_domain("Alice", "EXAMPLE.com", &none, &db),
        mbox("alice@example.com")
    );
    assert_eq!(
        resolve_in_domain("alice", "other.example", &none, &db),
        LocalResolution::Unknown
    );
    assert_eq!(resolve_local("alice", &none, &db), LocalResolution::Unknown);
    // A bare user is the same mailbox in every domain.
    assert_eq!(
        resolve_in_domain("bob", "example.com", &none, &db),
        mbox("bob")
    );
    assert_eq!(
        resolve_in_domain("bob", "other.example", &none, &db),
        mbox("bob")
    );
    // The domain's own user wins over the bare one of the same name.
    assert_eq!(
        resolve_in_domain("carol", "example.com", &none, &db),
        mbox("carol@example.com")
    );
    assert_eq!(
        resolve_in_domain("carol", "other.example", &none, &db),
        mbox("carol")
    );
    // Plus-addressing reaches the domain user too.
    assert_eq!(
        resolve_in_domain("alice+news", "example.com", &none, &db),
        mbox("alice@example.com")
    );
}

#[test]
fn bare_alias_targets_resolve_in_the_recipients_domain() {
    let db = users(&["alice@example.com", "alice@example.org"]);
    let map = aliases(&[("sales", &["alice"])]);
    assert_eq!(
        resolve_in_domain("sales", "example.org", &map, &db),
        LocalResolution::Deliver(vec![Target::Mailbox("alice@example.org".into())])
    );
    // Nowhere else is there an alice: unknown, not delivered.
    assert_eq!(
        resolve_in_domain("sales", "example.net", &map, &db),
        LocalResolution::Unknown
    );
    let domains = ["example.com".to_string(), "example.net".to_string()];
    assert!(dangling_targets(&map, &db, &domains).is_empty());
    let addressed = aliases(&[("a", &["alice@example.com", "alice@example.net"])]);
    let found = dangling_targets(&addressed, &db, &domains);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("alice@example.net"), "{found:?}");
}
