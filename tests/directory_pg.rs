//! Two nodes serving one site from a private PostgreSQL cluster (testkit;
//! never the system instance): a change made through one is in force on
//! the other within two seconds, announced by the database (also after it
//! restarts), and when the database goes away the nodes fail closed after
//! `max_stale`, then catch up when it returns.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::postgres::PgCluster;
use common::{describe, Server, Setup};

/// A client the site does not trust yet.
const NEWCOMER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

/// A `max_stale` short enough to see the nodes fail closed (they then poll
/// the version every 750 ms).
const SHORT_STALE: u64 = 3;
/// A `max_stale` long enough that the nodes poll at their slowest (every
/// 5 s), so a change seen sooner was announced.
const LONG_STALE: u64 = 60;

/// The node's configuration; its log shows how it learns of changes.
fn node_toml(backend: &str, max_stale: u64) -> String {
    format!(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n[directory]\nbackend = \"{backend}\"\nurl_file = \"directory.url\"\nmax_stale = {max_stale}\n\n[log]\nlevel = \"info,portcullis_directory_pg=debug\"\n"
    )
}

/// A node serving from the database, its site imported from its own files.
fn first_node(pg: &PgCluster, max_stale: u64) -> Server {
    let setup = Setup::new(&node_toml("files", max_stale));
    pg.write_url_file(&setup.dir().join("directory.url"));
    for args in [&["directory", "init"][..], &["directory", "import"]] {
        let out = setup.cli(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    }
    let out = setup.cli(&["config", "set", "directory.backend", "postgres"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    setup.start()
}

/// A second node on the same machine, with the same hostname: its own
/// `node_name` keeps it apart in `directory status`.
fn second_node(pg: &PgCluster, max_stale: u64) -> Server {
    let toml = node_toml("postgres", max_stale)
        .replace("[directory]\n", "[directory]\nnode_name = \"mx-b\"\n");
    let setup = Setup::new(&toml);
    pg.write_url_file(&setup.dir().join("directory.url"));
    setup.start()
}

/// The reply to a relayed RCPT from `src`.
fn relay_reply(node: &Server, src: Ipv4Addr) -> (u16, String) {
    let mut c = node.ehlo_from(src);
    c.expect("MAIL FROM:<a@client.test>", 250);
    let reply = c.cmd("RCPT TO:<bob@example.org>");
    c.quit_clean();
    reply
}

/// Waits (bounded) until the RCPT reply from `src` has `code`.
fn until_relay(node: &Server, src: Ipv4Addr, code: u16, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let reply = relay_reply(node, src);
        if reply.0 == code || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_change_on_one_node_holds_on_the_other_and_both_fail_closed_without_the_database() {
    let Some(mut pg) = PgCluster::start_if_available() else {
        return;
    };
    let a = first_node(&pg, SHORT_STALE);
    let b = second_node(&pg, SHORT_STALE);
    assert_eq!(relay_reply(&b, NEWCOMER).0, 554, "not trusted yet");

    let out = a.cli(&["config", "add", "relay.allow", "127.0.0.9"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reply = until_relay(&b, NEWCOMER, 250, Duration::from_secs(2));
    assert_eq!(reply.0, 250, "node B within 2 s: {reply:?}\n{}", b.log());
    // Each serving node reports the version it applied, in a row of its
    // own although both run on one machine with one hostname.
    let status = until_both_applied(&pg, &a, Duration::from_secs(3));
    assert!(status.contains("backend: postgres"), "{status}");

    // Removed just before the database goes away: never granted again.
    let out = a.cli(&["config", "remove", "relay.allow", "127.0.0.9"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        until_relay(&b, NEWCOMER, 554, Duration::from_secs(2)).0,
        554
    );
    pg.stop();
    let reply = until_relay(&b, Ipv4Addr::LOCALHOST, 451, Duration::from_secs(8));
    assert_eq!(reply.0, 451, "past max_stale: {reply:?}");
    assert!(reply.1.contains("4.3.0"), "{reply:?}");
    assert_eq!(
        relay_reply(&b, NEWCOMER).0 / 100,
        5,
        "never a grant for the removed entry"
    );

    pg.start_again();
    let reply = until_relay(&b, Ipv4Addr::LOCALHOST, 250, Duration::from_secs(8));
    assert_eq!(reply.0, 250, "caught up without a restart: {reply:?}");
    assert_eq!(
        until_relay(&a, Ipv4Addr::LOCALHOST, 250, Duration::from_secs(8)).0,
        250
    );
}

/// `directory status` once both nodes report the database's policy
/// version, in a row each (bounded; asserted).
fn until_both_applied(pg: &PgCluster, node: &Server, within: Duration) -> String {
    let version = pg.psql("portcullis", "SELECT version FROM policy_version");
    let rows = [
        format!("node mx.test: applied {version},"),
        format!("node mx-b: applied {version},"),
    ];
    let deadline = Instant::now() + within;
    loop {
        let out = node.cli(&["directory", "status"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if rows.iter().all(|r| text.contains(r.as_str())) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{rows:?} within {within:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many announced changes the node has taken.
fn announced(node: &Server) -> usize {
    node.log().matches("a change was announced").count()
}

/// Waits (bounded) until the node's log has `text`.
fn until_logged(node: &Server, text: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !node.log().contains(text) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn a_change_is_announced_to_the_other_node_also_after_the_database_restarts() {
    let Some(mut pg) = PgCluster::start_if_available() else {
        return;
    };
    let a = first_node(&pg, LONG_STALE);
    let b = second_node(&pg, LONG_STALE);
    assert_eq!(relay_reply(&b, NEWCOMER).0, 554, "not trusted yet");

    let out = a.cli(&["config", "add", "relay.allow", "127.0.0.9"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reply = until_relay(&b, NEWCOMER, 250, Duration::from_secs(2));
    assert_eq!(reply.0, 250, "node B within 2 s: {reply:?}\n{}", b.log());
    assert!(announced(&b) >= 1, "by announcement:\n{}", b.log());
    // Each node reports the version it applied as it applies it, not at
    // its next poll.
    until_both_applied(&pg, &a, Duration::from_secs(3));

    // The listener's connection dies with the database; once it is back,
    // the node LISTENs again and the next change is announced to it.
    pg.stop();
    pg.start_again();
    assert!(
        until_logged(&b, "listening for changes again", Duration::from_secs(10)),
        "{}",
        b.log()
    );
    let before = announced(&b);
    let out = a.cli(&["config", "remove", "relay.allow", "127.0.0.9"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reply = until_relay(&b, NEWCOMER, 554, Duration::from_secs(2));
    assert_eq!(reply.0, 554, "node B within 2 s: {reply:?}\n{}", b.log());
    assert!(announced(&b) > before, "by announcement:\n{}", b.log());
}

/// docs/cluster.md's ```console blocks, run as written (as tests/readme.rs
/// runs the README's) against a private cluster.
#[test]
fn the_commands_of_docs_cluster_md_print_what_they_show() {
    use common::transcript::{console_steps, run_step};

    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cluster.md"),
    )
    .expect("read docs/cluster.md");
    let setup = Setup::new(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n[directory]\nurl_file = \"directory.url\"\n",
    );
    pg.write_url_file(&setup.dir().join("directory.url"));
    let steps = console_steps(&doc);
    assert!(steps.len() >= 4, "docs/cluster.md shows its commands");
    for step in &steps {
        run_step("docs/cluster.md", step, &step.command, setup.dir());
    }
}
