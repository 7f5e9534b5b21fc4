//! Against a private PostgreSQL cluster (testkit), never a system one.

use std::collections::BTreeMap;

use portcullis_config::Relay;
use portcullis_directory::users::{Credentials, UserDb};
use portcullis_directory::Site;
use portcullis_testkit::postgres::PgCluster;

use super::*;

fn site() -> Site {
    let mut users = UserDb::new();
    let creds = Credentials::derive("correct horse battery").unwrap();
    users.add("alice@example.com", creds.clone()).unwrap();
    users.add("bob", creds).unwrap();
    users.set_admin("bob", true).unwrap();
    Site {
        local_domains: vec!["example.com".into(), "example.net".into()],
        users,
        aliases: BTreeMap::from([("postmaster".into(), vec!["bob".into()])]),
        relay: Relay {
            local_only: false,
            restricted: true,
            allow: vec![
                "127.0.0.1".into(),
                "192.168.40-43.*".into(),
                "!192.168.41.7".into(),
            ]
            .into(),
            authenticated: true,
            smarthost: None,
            smarthost_user: None,
            smarthost_password_file: None,
        },
        routes: BTreeMap::from([("example.org".into(), "127.0.0.1:2525".into())]),
    }
}

#[test]
fn init_creates_the_schema_once_and_again_changes_nothing() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let mut store = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 0);
    assert_eq!(store.init().unwrap(), schema::CURRENT);
    let version = store.policy_version().unwrap();
    assert_eq!(store.init().unwrap(), schema::CURRENT);
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT);
    assert_eq!(store.policy_version().unwrap(), version);
}

#[test]
fn a_site_written_is_read_back_whole_with_a_new_policy_version() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let mut store = PgStore::connect(&pg.url()).unwrap();
    store.init().unwrap();
    let before = store.policy_version().unwrap();
    let written = site();
    let after = store.write_site(&written).unwrap();
    assert!(after > before, "{after} > {before}");
    let (read, version) = store.read_site().unwrap();
    assert_eq!(read, written);
    assert_eq!(version, after);
    assert!(read.users.is_admin("bob") && !read.users.is_admin("alice@example.com"));
    // Credentials, never a password.
    let stored = pg.psql(
        "portcullis",
        "SELECT string_agg(credentials, ' ') FROM users",
    );
    assert!(stored.contains("$argon2id$") && !stored.contains("correct horse"));
}

#[test]
fn a_change_by_hand_bumps_the_version_and_is_announced() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let mut store = PgStore::connect(&pg.url()).unwrap();
    store.init().unwrap();
    store.write_site(&site()).unwrap();
    let before = store.policy_version().unwrap();
    pg.psql(
        "portcullis",
        "INSERT INTO relay_allow VALUES (3, '10.1.2.3')",
    );
    assert_eq!(store.policy_version().unwrap(), before + 1);
    let (read, _) = store.read_site().unwrap();
    assert_eq!(
        read.relay.allow.last().map(String::as_str),
        Some("10.1.2.3")
    );
}

#[test]
fn a_broken_credentials_row_is_refused_naming_the_table() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let mut store = PgStore::connect(&pg.url()).unwrap();
    store.init().unwrap();
    store.write_site(&site()).unwrap();
    pg.psql(
        "portcullis",
        "UPDATE users SET credentials = 'bob:plain:hunter2' WHERE name = 'bob'",
    );
    let err = store.read_site().unwrap_err().to_string();
    assert!(err.contains("users table"), "{err}");
}

#[test]
fn an_unreachable_or_malformed_url_is_one_sentence_without_the_password() {
    let err = PgStore::connect("postgres://u:s3cret@127.0.0.1:1/db")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot be reached") && !err.contains("s3cret"),
        "{err}"
    );
    let err = PgStore::connect("postgres://u:s3cret@[::1/db")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("not valid") && !err.contains("s3cret"),
        "{err}"
    );
}

#[test]
fn a_database_with_tls_is_reached_as_sslmode_says_and_a_wrong_root_is_named() {
    let Some(pg) = PgCluster::start_with_tls_if_available() else {
        return;
    };
    let root = pg.root_cert().display().to_string();
    let url = |query: &str| format!("{}?{query}", pg.url());
    let encrypted = |store: &mut PgStore| -> bool {
        let PgStore { runtime, client } = store;
        let row = runtime
            .block_on(client.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            ))
            .unwrap();
        row.get(0)
    };
    for query in [
        "sslmode=require".to_string(),
        "sslmode=prefer".to_string(),
        format!("sslmode=verify-ca&sslrootcert={root}"),
        format!("sslmode=verify-full&sslrootcert={root}"),
    ] {
        let mut store = PgStore::connect(&url(&query)).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(encrypted(&mut store), "{query}");
    }
    let mut plain = PgStore::connect(&url("sslmode=disable")).unwrap();
    assert!(!encrypted(&mut plain));

    // Another self-signed certificate is not the server's root.
    let other = tempfile::NamedTempFile::new().unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(other.path(), stranger.cert.pem()).unwrap();
    let wrong = other.path().display().to_string();
    let err = PgStore::connect(&url(&format!("sslmode=verify-full&sslrootcert={wrong}")))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "the directory database: cannot be reached: the server's certificate is not signed \
             by a root in sslrootcert {wrong} (sslmode=verify-full)"
        )
    );
    assert!(!err.contains("directory-test-password"));
    // The right root for another name: verify-ca takes it, verify-full not.
    let by_name = pg.url().replace("127.0.0.1", "db.invalid");
    let by_name = format!("{by_name}?hostaddr=127.0.0.1");
    let err = PgStore::connect(&format!("{by_name}&sslmode=verify-full&sslrootcert={root}"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("not valid for the host \"db.invalid\""),
        "{err}"
    );
    PgStore::connect(&format!("{by_name}&sslmode=verify-ca&sslrootcert={root}")).unwrap();
    let err = PgStore::connect(&url("sslmode=verify-full"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("not signed by a root in the system's root certificates")
            || err.contains("the system has no root certificates"),
        "{err}"
    );
    let err = PgStore::connect(&url("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{err}");
}

#[test]
fn require_is_refused_by_a_database_without_tls() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let err = PgStore::connect(&format!("{}?sslmode=require", pg.url()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot be reached") && err.contains("TLS"),
        "{err}"
    );
    PgStore::connect(&pg.url()).unwrap(); // prefer: plain when TLS is not offered
}

#[test]
fn a_listener_is_woken_by_a_change_and_the_watcher_ends_with_its_directory() {
    use std::time::{Duration, Instant};

    use crate::listener::{Listener, Woken};

    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    PgStore::connect(&pg.url()).unwrap().init().unwrap();
    let mut listener = Listener::connect(&pg.url()).unwrap();
    let stop = tokio::sync::Notify::new();
    assert_eq!(
        listener.wait(Duration::from_millis(100), &stop),
        Woken::TimedOut
    );
    pg.psql("portcullis", "INSERT INTO domains VALUES ('example.org')");
    let started = Instant::now();
    assert_eq!(
        listener.wait(Duration::from_secs(10), &stop),
        Woken::Announced
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(listener);

    // A directory's watcher holds a connection; dropping the directory
    // closes it at once, not at the next poll.
    let others = "SELECT count(*) FROM pg_stat_activity \
                  WHERE datname = 'portcullis' AND pid <> pg_backend_pid()";
    let until = |count: &str| {
        let deadline = Instant::now() + Duration::from_secs(2);
        while pg.psql("portcullis", others) != count {
            assert!(Instant::now() < deadline, "{count} other connections");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until("0");
    let node = portcullis_config::Config::defaults(std::path::Path::new("/x/p.toml"));
    let directory = PgDirectory::open(pg.url(), std::sync::Arc::new(node), None);
    until("1");
    drop(directory);
    until("0");
}
