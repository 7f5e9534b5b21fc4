//! The node serves the directory's site, not its own file's sections: with
//! a backend other than the files, domains, aliases and relay policy all
//! come from what the directory gave.

use std::path::Path;

use portcullis_directory::recipient::{decide, Decision};
use portcullis_directory::{Site, Version};
use portcullis_relay::ReverseDns;
use portcullis_smtp::address::parse_forward_path;

use super::Loaded;
use crate::runtime::{BuildOptions, Runtime};

fn runtime(site: Site) -> Runtime {
    let dir = tempfile::tempdir().unwrap();
    let mut config = portcullis_config::Config::defaults(&dir.path().join("portcullis.toml"));
    config.hostname = "mx.node.test".into();
    let loaded = Loaded {
        site,
        version: Version::Counter(7),
        users_unreadable: None,
    };
    let options = BuildOptions {
        allow_open_relay: false,
        generate_certificate: false,
        every_entry: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(Runtime::build(config, loaded, None, options))
        .map(|(rt, _)| rt)
        .unwrap_or_else(|r| panic!("{}", r.0))
}

fn rule(rt: &Runtime, client: &str, rcpt: &str) -> Decision {
    let mb = parse_forward_path(&format!("<{rcpt}>"), true).unwrap();
    decide(
        &rt.recipients(),
        &mb,
        client.parse().unwrap(),
        &ReverseDns::NotChecked,
        None,
    )
}

#[test]
fn domains_aliases_and_relay_come_from_the_directory_not_the_file() {
    let config = portcullis_config::Config::defaults(Path::new("/x/portcullis.toml"));
    let mut relay = config.relay.clone();
    relay.allow = vec!["192.0.2.0/24".into()].into();
    let site = Site {
        local_domains: vec!["shared.example".into()],
        users: Default::default(),
        aliases: [(
            "sales".to_string(),
            vec!["boss@elsewhere.example".to_string()],
        )]
        .into(),
        relay,
        routes: Default::default(),
    };
    let rt = runtime(site);
    assert_eq!(rt.site.version, Version::Counter(7));
    assert!(matches!(
        rule(&rt, "203.0.113.9", "sales@shared.example"),
        Decision::Local(_)
    ));
    assert_eq!(
        rule(&rt, "203.0.113.9", "nobody@shared.example"),
        Decision::UnknownUser
    );
    // The file's default relay list (loopback) is not in force; the site's is.
    assert!(rule(&rt, "192.0.2.7", "x@remote.example").accepted());
    assert!(!rule(&rt, "127.0.0.1", "x@remote.example").accepted());
    // `localhost`, a default local domain of the file, is not one here.
    assert!(!rule(&rt, "127.0.0.1", "x@localhost").accepted());
}

#[test]
fn an_open_relay_from_the_directory_is_refused_as_from_the_file() {
    let config = portcullis_config::Config::defaults(Path::new("/x/portcullis.toml"));
    let mut relay = config.relay.clone();
    relay.allow = vec!["0.0.0.0/0".into()].into();
    let site = Site {
        local_domains: vec![],
        users: Default::default(),
        aliases: Default::default(),
        relay,
        routes: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let config = portcullis_config::Config::defaults(&dir.path().join("portcullis.toml"));
    let loaded = Loaded {
        site,
        version: Version::Counter(1),
        users_unreadable: None,
    };
    let options = BuildOptions {
        allow_open_relay: false,
        generate_certificate: false,
        every_entry: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = rt
        .block_on(Runtime::build(config, loaded, None, options))
        .err()
        .expect("an open relay is refused");
    assert!(refused.0.contains("open relay"), "{}", refused.0);
}
