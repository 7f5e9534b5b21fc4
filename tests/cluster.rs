//! Three nodes, one directory, one mail store: a private PostgreSQL cluster
//! holds the site and a private Dovecot takes every node's local mail by
//! LMTP (both from testkit; never a system instance). An edit made through
//! one node is in force on the others within two seconds; mail accepted by
//! any node lands once in the shared mailbox; without the database the nodes
//! fail closed after `max_stale`, a node restarted meanwhile too, and all
//! catch up when it returns; a node killed with mail still to hand over
//! delivers it exactly once after its restart.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::auth_support::{Smtp, TlsOptions};
use common::dovecot::{unavailable, Dovecot, DovecotUser};
use common::outbound::{kill_9, queue_cli, send, wait_queue_empty};
use common::postgres::PgCluster;
use common::{describe, find, Server, Setup};

/// A client the site does not trust until node A says so.
const NEWCOMER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
/// How long mail may take to reach Dovecot.
const WAIT: Duration = Duration::from_secs(20);
/// How soon an edit must hold on every node.
const PROPAGATION: Duration = Duration::from_secs(2);
const PASSWORD: &str = "store-pass-1";

/// Both peers, or `None` (with the reason printed) where one is missing
/// outside CI.
fn peers(store_users: &[&str]) -> Option<(PgCluster, Dovecot)> {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let pg = PgCluster::start_if_available()?;
    let users: Vec<DovecotUser> = store_users
        .iter()
        .map(|n| DovecotUser::new(n, PASSWORD))
        .collect();
    Some((pg, Dovecot::prepare(&users)))
}

fn node_setup(name: &str, backend: &str, pg: &PgCluster, store: &Dovecot) -> Setup {
    let setup = Setup::new(&format!(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n\
         [delivery]\nlmtp = {}\n\n\
         [queue]\nretry_min = 1\nretry_max = 2\n\n\
         [directory]\nbackend = \"{backend}\"\nurl_file = \"directory.url\"\nmax_stale = 3\n",
        common::toml_str(&store.lmtp_tcp())
    ))
    .with_hostname(name);
    pg.write_url_file(&setup.dir().join("directory.url"));
    setup
}

/// The first node: its file-backed site (with `users`) becomes the shared
/// one through `directory init` and `directory import`, as docs/cluster.md
/// tells an operator to do.
fn first_node(pg: &PgCluster, store: &Dovecot, users: &[&str]) -> Server {
    let setup = node_setup("mx-a.test", "files", pg, store);
    for user in users {
        setup.add_user(user, "portcullis-pass-1");
    }
    for args in [
        &["directory", "init"][..],
        &["directory", "import"],
        &["config", "set", "directory.backend", "postgres"],
    ] {
        let out = setup.cli(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    }
    setup.start()
}

/// Another node: nothing of the site in its own files.
fn other_node(name: &str, pg: &PgCluster, store: &Dovecot) -> Server {
    node_setup(name, "postgres", pg, store).start()
}

/// The reply to `RCPT TO:<rcpt>` from `src`.
fn rcpt_reply(node: &Server, src: Ipv4Addr, rcpt: &str) -> (u16, String) {
    let mut c = node.ehlo_from(src);
    c.expect("MAIL FROM:<a@client.test>", 250);
    let reply = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    c.quit_clean();
    reply
}

/// Waits (bounded) until the RCPT reply has `code`; returns the last reply.
fn until_rcpt(
    node: &Server,
    src: Ipv4Addr,
    rcpt: &str,
    code: u16,
    within: Duration,
) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let reply = rcpt_reply(node, src, rcpt);
        if reply.0 == code || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The final reply to `AUTH PLAIN` as alice over implicit TLS.
fn auth_reply(node: &Server) -> (u16, String) {
    let opts = TlsOptions::for_server(node);
    let mut s = Smtp::implicit_tls(Ipv4Addr::LOCALHOST, node.submissions_port, &opts).greeted();
    s.ehlo("client.test");
    s.auth_plain("alice", "portcullis-pass-1")
}

fn cli_ok(node: &Server, args: &[&str]) {
    let out = node.cli(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
}

/// `directory status` once every node in `names` reports `version` (bounded).
fn status_when_all_applied(node: &Server, names: &[&str], version: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = node.cli(&["directory", "status"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = names
            .iter()
            .all(|n| text.contains(&format!("node {n}: applied {version},")));
        if all || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn token_count(got: &[Vec<u8>], token: &str) -> usize {
    let needle = format!("X-Token: {token}\r\n");
    got.iter()
        .filter(|m| find(m, needle.as_bytes()).is_some())
        .count()
}

#[test]
fn three_nodes_share_the_directory_and_the_store_and_fail_closed_without_the_database() {
    let Some((mut pg, mut store)) = peers(&["alice", "dave"]) else {
        return;
    };
    store.run();
    let a = first_node(&pg, &store, &["alice"]);
    let b = other_node("mx-b.test", &pg, &store);
    let mut c = other_node("mx-c.test", &pg, &store);
    let nodes = [&a, &b, &c];

    // Edits through node A hold on B and C within two seconds.
    for node in nodes {
        assert_eq!(rcpt_reply(node, NEWCOMER, "bob@example.org").0, 554);
        assert_eq!(
            rcpt_reply(node, Ipv4Addr::LOCALHOST, "dave@local.test").0 / 100,
            5
        );
    }
    let out = a.cli_stdin(
        &["user", "add", "dave", "--password-stdin", "--weak"],
        Some("portcullis-pass-2\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    cli_ok(&a, &["config", "add", "relay.allow", "127.0.0.9"]);
    let edited = Instant::now();
    for node in [&b, &c] {
        let reply = until_rcpt(node, NEWCOMER, "bob@example.org", 250, PROPAGATION);
        assert_eq!(
            reply.0,
            250,
            "relay from the new entry: {reply:?}\n{}",
            node.log()
        );
        let reply = until_rcpt(
            node,
            Ipv4Addr::LOCALHOST,
            "dave@local.test",
            250,
            PROPAGATION,
        );
        assert_eq!(reply.0, 250, "the new user: {reply:?}\n{}", node.log());
    }
    assert!(edited.elapsed() < 2 * PROPAGATION, "{:?}", edited.elapsed());

    // One message through each node, into the one mailbox, intact.
    let mut bodies = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let wire = format!(
            "Subject: node {i}\r\nX-Token: node-{i}\r\n\r\nHello from node {i}.\r\n..dot\r\n"
        );
        send(
            node,
            "carol@remote.test",
            &["alice@local.test"],
            wire.as_bytes(),
        );
        bodies.push(wire.replace("\r\n..dot", "\r\n.dot"));
    }
    let got = store.wait_messages("alice", PASSWORD, 3, WAIT);
    assert_eq!(got.len(), 3, "{got:?}");
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(token_count(&got, &format!("node-{i}")), 1);
        let m = got
            .iter()
            .find(|m| find(m, format!("X-Token: node-{i}\r\n").as_bytes()).is_some())
            .expect("found above");
        assert!(m.starts_with(b"Return-Path: <carol@remote.test>\r\n"));
        let by = ["mx-a.test", "mx-b.test", "mx-c.test"][i];
        assert!(find(m, format!("by {by}").as_bytes()).is_some());
        assert!(
            m.ends_with(body.as_bytes()),
            "{}",
            String::from_utf8_lossy(m)
        );
    }

    // Every node reports the version in force.
    let version = pg.psql("portcullis", "SELECT version FROM policy_version");
    let status =
        status_when_all_applied(&a, &["mx-a.test", "mx-b.test", "mx-c.test"], version.trim());
    for name in ["mx-a.test", "mx-b.test", "mx-c.test"] {
        assert!(
            status.contains(&format!("node {name}: applied {},", version.trim())),
            "{status}"
        );
    }

    // Removed just before the database goes away: never granted again.
    cli_ok(&a, &["config", "remove", "relay.allow", "127.0.0.9"]);
    for node in nodes {
        assert_eq!(
            until_rcpt(node, NEWCOMER, "bob@example.org", 554, PROPAGATION).0,
            554
        );
    }
    pg.stop();
    c = c.restart();
    for node in [&a, &b, &c] {
        let reply = until_rcpt(
            node,
            Ipv4Addr::LOCALHOST,
            "bob@example.org",
            451,
            Duration::from_secs(8),
        );
        assert_eq!(reply.0, 451, "past max_stale: {reply:?}\n{}", node.log());
        assert!(reply.1.contains("4.3.0"), "{reply:?}");
        assert_eq!(rcpt_reply(node, NEWCOMER, "bob@example.org").0 / 100, 5);
        let reply = auth_reply(node);
        assert_eq!(reply.0, 454, "AUTH past max_stale: {reply:?}");
        assert!(reply.1.starts_with("454 4.7.0 "), "{reply:?}");
    }

    // Back: every node catches up without a restart.
    pg.start_again();
    for node in [&a, &b, &c] {
        let reply = until_rcpt(
            node,
            Ipv4Addr::LOCALHOST,
            "bob@example.org",
            250,
            Duration::from_secs(8),
        );
        assert_eq!(reply.0, 250, "caught up: {reply:?}\n{}", node.log());
        assert_eq!(rcpt_reply(node, NEWCOMER, "bob@example.org").0, 554);
        assert_eq!(auth_reply(node).0, 235);
    }
}

#[test]
fn a_node_killed_with_mail_for_the_store_delivers_it_once_after_its_restart() {
    let Some((pg, mut store)) = peers(&["alice"]) else {
        return;
    };
    // The store is down at first: both nodes hold acknowledged mail for it.
    let a = first_node(&pg, &store, &["alice"]);
    let b = other_node("mx-b.test", &pg, &store);
    let tokens: Vec<String> = (0..6).map(|i| format!("held-{i}")).collect();
    for (i, token) in tokens.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let wire = format!("Subject: {token}\r\nX-Token: {token}\r\n\r\nAcknowledged.\r\n");
        send(
            node,
            "carol@remote.test",
            &["alice@local.test"],
            wire.as_bytes(),
        );
    }
    kill_9(&b);
    store.run();
    // Node A delivers its share while B is down; B its own after restarting.
    store.wait_messages("alice", PASSWORD, tokens.len() / 2, WAIT);
    let b = b.restart();
    store.wait_messages("alice", PASSWORD, tokens.len(), WAIT);
    for node in [&a, &b] {
        assert!(wait_queue_empty(node), "{}", queue_cli(node, &["list"]));
    }
    std::thread::sleep(Duration::from_millis(300));
    let got = store.messages("alice", PASSWORD);
    for token in &tokens {
        let n = token_count(&got, token);
        assert_eq!(n, 1, "{token} delivered {n} times\n{}", b.log());
    }
    assert_eq!(got.len(), tokens.len());
}
