//! `portcullis directory init|import|status` against a private PostgreSQL
//! cluster (testkit; never the system instance): a node on the file backend
//! moves its site into the shared database, over TLS verified as the URL's
//! `sslmode` and `sslrootcert` say.

use portcullis_testkit as common;

use std::process::Output;

use common::postgres::PgCluster;
use common::{describe, Setup};

const SITE: &str = r#"
[relay]
allow = ["127.0.0.1", "192.168.40-43.*"]

[aliases]
postmaster = ["alice"]

[directory]
url_file = "directory.url"
"#;

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(setup: &Setup, args: &[&str]) -> String {
    let out = setup.cli(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    text(&out)
}

#[test]
fn a_file_backed_site_is_initialised_imported_and_shown() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let setup = Setup::new(SITE);
    pg.write_url_file(&setup.dir().join("directory.url"));
    let out = setup.cli_stdin(
        &["user", "add", "alice", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let before = ok(&setup, &["directory", "status"]);
    assert!(
        before.contains("backend: files") && before.contains("schema: 0"),
        "{before}"
    );
    assert!(ok(&setup, &["directory", "init"]).contains("directory schema at version 1"));
    assert!(ok(&setup, &["directory", "init"]).contains("directory schema at version 1"));

    let imported = ok(&setup, &["directory", "import"]);
    assert!(
        imported.contains("imported 2 domains, 1 users, 1 aliases, 2 relay entries and 0 routes"),
        "{imported}"
    );
    assert_eq!(
        pg.psql(
            "portcullis",
            "SELECT entry FROM relay_allow ORDER BY position"
        ),
        "127.0.0.1\n192.168.40-43.*"
    );
    let creds = pg.psql("portcullis", "SELECT credentials FROM users");
    assert!(creds.starts_with("alice:argon2:$argon2id$"), "{creds}");
    assert!(!creds.contains("correct horse"));
    let version = pg.psql("portcullis", "SELECT version FROM policy_version");
    let status = ok(&setup, &["directory", "status"]);
    assert!(
        status.contains(&format!("policy version: {version}")),
        "{status}"
    );
    assert!(status.contains("schema: 1 (this build: 1)"), "{status}");

    // Back out as files: the settings read as the server reads them, and
    // the same users with the same credentials.
    let out_dir = setup.dir().join("exported");
    let exported = ok(&setup, &["directory", "export", out_dir.to_str().unwrap()]);
    assert!(
        exported.contains(&format!("exported policy version {version}")),
        "{exported}"
    );
    let site = std::fs::read_to_string(out_dir.join("site.toml")).unwrap();
    assert!(
        site.contains("\"192.168.40-43.*\"") && site.contains("postmaster"),
        "{site}"
    );
    let users = std::fs::read_to_string(out_dir.join("users")).unwrap();
    assert_eq!(users.lines().last(), Some(creds.as_str()));
    let again = setup.cli(&["directory", "export", out_dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}

#[test]
fn a_database_behind_tls_is_used_with_the_right_root_and_refused_with_another() {
    let Some(pg) = PgCluster::start_with_tls_if_available() else {
        return;
    };
    let setup = Setup::new(SITE);
    let url_file = setup.dir().join("directory.url");
    let use_root = |root: &std::path::Path| {
        let url = format!(
            "{}?sslmode=verify-full&sslrootcert={}\n",
            pg.url(),
            root.display()
        );
        std::fs::write(&url_file, url).expect("write the url file");
    };
    use_root(&pg.root_cert());
    assert!(ok(&setup, &["directory", "init"]).contains("directory schema at version 1"));
    assert!(ok(&setup, &["directory", "status"]).contains("schema: 1"));

    let stranger = setup.dir().join("stranger.pem");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(&stranger, cert.cert.pem()).unwrap();
    use_root(&stranger);
    let out = setup.cli(&["directory", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "the server's certificate is not signed by a root in sslrootcert {}",
            stranger.display()
        )),
        "{err}"
    );
    assert!(!err.contains("directory-test-password"), "{err}");
}

#[test]
fn commands_on_the_database_leave_no_snapshot_in_data_dir() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let setup = Setup::new(SITE);
    pg.write_url_file(&setup.dir().join("directory.url"));
    ok(&setup, &["directory", "init"]);
    ok(&setup, &["directory", "import"]);
    ok(&setup, &["config", "set", "directory.backend", "postgres"]);
    let out = setup.cli_stdin(
        &["user", "add", "bob", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(ok(&setup, &["user", "list"]).contains("bob"));
    ok(
        &setup,
        &["check-relay", "--client", "192.168.41.7", "bob@example.org"],
    );
    // Only a serving node keeps one: a command run as root must not leave
    // files the server's user cannot replace.
    let snapshot = setup.data_dir.join("directory-snapshot");
    assert!(!snapshot.exists(), "{}", snapshot.display());
}

#[test]
fn import_before_init_and_a_missing_url_file_are_refused_in_one_sentence() {
    let Some(pg) = PgCluster::start_if_available() else {
        return;
    };
    let setup = Setup::new(SITE);
    let out = setup.cli(&["directory", "init"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read directory.url_file") && err.contains("directory.url"),
        "{err}"
    );

    pg.write_url_file(&setup.dir().join("directory.url"));
    let out = setup.cli(&["directory", "import"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `portcullis directory init` first"));
}

#[test]
fn a_database_that_is_down_is_a_runtime_failure_that_keeps_the_password_secret() {
    let Some(mut pg) = PgCluster::start_if_available() else {
        return;
    };
    let setup = Setup::new(SITE);
    pg.write_url_file(&setup.dir().join("directory.url"));
    pg.stop();
    let out = setup.cli(&["directory", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(!err.contains("directory-test-password"), "{err}");
}

#[test]
fn without_a_url_file_the_commands_say_which_key_to_set() {
    let setup = Setup::new("");
    let out = setup.cli(&["directory", "status"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("directory.url_file is not set"));
}
