//! Alias targets are checked: a local target that is no user and no alias
//! is warned about when the alias is edited, by `config check` and by
//! `reload`, and at delivery it bounces with 5.1.1 (a DSN to the sender)
//! while the other targets get the message, instead of vanishing with
//! only a line in the server log.

use portcullis_testkit as common;

use common::{describe, Server, Setup};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_dangling_target_is_warned_about_at_edit_check_and_reload() {
    let setup = Setup::new("");
    setup.add_user("alice", "pw-alice-aliases");
    let out = setup.cli(&["config", "set", "aliases.sales", "alice", "ghost"]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: aliases.sales: target \"ghost\" is no local user or alias")
            && err.contains("5.1.1"),
        "{}",
        describe(&out)
    );
    // Targets that exist are not warned about (the edit still lists the
    // warnings that stand, like every load).
    let out = setup.cli(&[
        "config",
        "set",
        "aliases.team",
        "alice",
        "bob@remote.example",
    ]);
    assert!(
        out.status.success() && !text(&out.stderr).contains("aliases.team"),
        "{}",
        describe(&out)
    );

    let out = setup.cli(&["config", "check"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("warning: aliases.sales: target \"ghost\""),
        "{}",
        describe(&out)
    );
    assert!(
        !text(&out.stdout).contains("aliases.team"),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stdout).contains("configuration OK with 1 warning"),
        "{}",
        describe(&out)
    );
    let out = setup.cli(&["config", "check", "--strict"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));

    // Removing a user an alias names says so.
    setup.add_user("carol", "pw-carol-aliases");
    let out = setup.cli(&["config", "set", "aliases.helpdesk", "carol"]);
    assert!(
        out.status.success() && !text(&out.stderr).contains("helpdesk"),
        "{}",
        describe(&out)
    );
    let out = setup.cli(&["user", "remove", "carol"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("warning: aliases.helpdesk: target \"carol\" is no local user"),
        "{}",
        describe(&out)
    );

    let server = setup.start();
    assert!(
        server.log().contains("aliases.sales: target \"ghost\""),
        "{}",
        server.log()
    );
    let out = server.cli(&["config", "add", "aliases.team", "nobody@local.test"]);
    assert!(
        text(&out.stderr).contains("aliases.team: target \"nobody@local.test\""),
        "{}",
        describe(&out)
    );
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains("warning: aliases.team: target \"nobody@local.test\""),
        "{said}"
    );
}

#[test]
fn a_dangling_target_bounces_with_5_1_1_and_the_others_get_the_message() {
    let server = Server::with_users(
        "[aliases]\nsales = [\"alice\", \"ghost\", \"gone@local.test\"]\n",
        &[("alice", "pw-alice-aliases")],
    );
    let mut c = server.ehlo_from(std::net::Ipv4Addr::new(127, 0, 0, 1));
    let (code, reply) = c.send_mail(
        "alice@local.test",
        &["sales@local.test"],
        b"Subject: quarterly\r\n\r\nnumbers\r\n",
    );
    assert_eq!(code, 250, "{reply}");
    c.quit_clean();
    // The message, and one bounce naming both missing targets.
    let msgs = server.wait_maildir("alice", 2);
    let all: Vec<String> = msgs.iter().map(|m| text(m)).collect();
    assert_eq!(all.len(), 2, "{all:?}\n{}", server.log());
    assert_eq!(
        all.iter()
            .filter(|m| m.contains("Subject: quarterly\r\n\r\nnumbers"))
            .count(),
        1
    );
    let bounces = all.join("\n");
    for who in ["ghost@local.test", "gone@local.test"] {
        assert!(
            bounces.contains(&format!("Final-Recipient: rfc822; {who}")),
            "{bounces}"
        );
    }
    assert_eq!(bounces.matches("Status: 5.1.1").count(), 2, "{bounces}");
    // A name that reaches nobody at all is still refused at RCPT.
    let mut c = server.ehlo_from(std::net::Ipv4Addr::new(127, 0, 0, 1));
    c.expect("MAIL FROM:<a@client.test>", 250);
    c.expect_enhanced("RCPT TO:<ghost@local.test>", 550, "5.1.1");
    c.quit_clean();
}
