//! One check of the directory, against an in-memory backend: a new version
//! is swapped in whole; a version that cannot be compiled, or a file that
//! cannot be read, keeps the site in force and is not tried again until it
//! changes, while a database that cannot be reached is tried at every check;
//! and only a confirmation of the version in force counts as one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use portcullis_config::{Config, EditOp};
use portcullis_directory::users::UserDb;
use portcullis_directory::{
    Directory, DirectoryError, Judge, SettingEdited, Site, UserEdit, Version,
};

use super::{next, Refreshed, Watch};
use crate::runtime::{BuildOptions, Runtime};
use crate::site::Loaded;

/// A directory held in memory: what `load` gives, and how often it was asked.
struct Memory {
    state: Mutex<(Version, Result<Site, String>)>,
    confirmed: Option<SystemTime>,
    loads: Mutex<usize>,
}

impl Memory {
    fn new(version: i64, site: Result<Site, String>) -> Arc<Memory> {
        Arc::new(Memory {
            state: Mutex::new((Version::Counter(version), site)),
            confirmed: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000)),
            loads: Mutex::new(0),
        })
    }

    /// A directory that is its own truth (as the users file is).
    fn unconfirmed(version: i64, site: Result<Site, String>) -> Arc<Memory> {
        Arc::new(Memory {
            state: Mutex::new((Version::Counter(version), site)),
            confirmed: None,
            loads: Mutex::new(0),
        })
    }

    fn loads(&self) -> usize {
        *self.loads.lock().unwrap()
    }
}

impl Directory for Memory {
    fn version(&self) -> Version {
        self.state.lock().unwrap().0
    }

    fn load(&self, _in_force: Option<&UserDb>) -> Result<Site, DirectoryError> {
        *self.loads.lock().unwrap() += 1;
        self.state
            .lock()
            .unwrap()
            .1
            .clone()
            .map_err(DirectoryError::Failed)
    }

    fn edit_users(&self, _edit: UserEdit) -> Result<UserDb, DirectoryError> {
        Err(DirectoryError::Refused("read-only".into()))
    }

    fn edit_setting(&self, _op: EditOp, _j: &Judge<'_>) -> Result<SettingEdited, DirectoryError> {
        Err(DirectoryError::Refused("read-only".into()))
    }

    fn last_confirmed(&self) -> Option<SystemTime> {
        self.confirmed
    }
}

fn site(allow: &str) -> Site {
    let mut relay = Config::defaults(std::path::Path::new("/x/p.toml")).relay;
    relay.allow = vec![allow.to_string()].into();
    Site {
        local_domains: vec!["example.com".into()],
        users: UserDb::new(),
        aliases: Default::default(),
        relay,
        routes: Default::default(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A runtime serving `site` at version 1.
fn runtime(site: Site) -> Arc<Runtime> {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::defaults(&dir.path().join("portcullis.toml"));
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
    let (rt, _) = block_on(Runtime::build(config, loaded, None, options))
        .unwrap_or_else(|r| panic!("{}", r.0));
    Arc::new(rt)
}

#[test]
fn the_version_in_force_is_confirmed_without_a_load() {
    let rt = runtime(site("192.0.2.1"));
    let memory = Memory::new(1, Ok(site("192.0.2.1")));
    let found = block_on(next(&rt, memory.clone(), &mut Watch::default(), false));
    assert!(
        matches!(found, Refreshed::Unchanged(c) if c == memory.confirmed),
        "the confirmation of the version in force is passed on"
    );
    assert_eq!(memory.loads(), 0);
}

#[test]
fn a_new_version_is_loaded_whole_and_compiled_into_a_new_runtime() {
    let rt = runtime(site("192.0.2.1"));
    let memory = Memory::new(2, Ok(site("198.51.100.0/24")));
    let Refreshed::New(new, confirmed) =
        block_on(next(&rt, memory.clone(), &mut Watch::default(), false))
    else {
        panic!("a new version is swapped in");
    };
    assert_eq!(confirmed, memory.confirmed);
    assert_eq!(new.site.version, Version::Counter(2));
    assert_eq!(*new.site.site.relay.allow, ["198.51.100.0/24"]);
    let ip = "198.51.100.7".parse().unwrap();
    let rdns = portcullis_relay::ReverseDns::NotChecked;
    assert!(new.site.policy.decide(ip, &rdns, None).is_allowed());
    assert!(!rt.site.policy.decide(ip, &rdns, None).is_allowed());
    // The node's own settings are the same objects.
    assert!(Arc::ptr_eq(&new.config, &rt.config));
}

#[test]
fn a_site_that_does_not_compile_keeps_the_one_in_force_and_is_tried_once() {
    let rt = runtime(site("192.0.2.1"));
    let memory = Memory::new(2, Ok(site("0.0.0.0/0")));
    let mut watch = Watch::default();
    assert!(matches!(
        block_on(next(&rt, memory.clone(), &mut watch, false)),
        Refreshed::Kept
    ));
    assert!(matches!(
        block_on(next(&rt, memory.clone(), &mut watch, false)),
        Refreshed::Kept
    ));
    assert_eq!(memory.loads(), 1, "a refused version is not loaded again");
    // The next version is.
    *memory.state.lock().unwrap() = (Version::Counter(3), Ok(site("192.0.2.9")));
    assert!(matches!(
        block_on(next(&rt, memory.clone(), &mut watch, false)),
        Refreshed::New(..)
    ));
}

#[test]
fn a_database_that_cannot_be_read_keeps_the_site_in_force_and_is_tried_until_it_returns() {
    let rt = runtime(site("192.0.2.1"));
    let memory = Memory::new(2, Err("connection refused".into()));
    let mut watch = Watch::default();
    for _ in 0..2 {
        assert!(matches!(
            block_on(next(&rt, memory.clone(), &mut watch, false)),
            Refreshed::Kept
        ));
    }
    assert_eq!(memory.loads(), 2, "tried again at the next check");
    // Back with the same version: it is loaded at once.
    memory.state.lock().unwrap().1 = Ok(site("192.0.2.9"));
    assert!(matches!(
        block_on(next(&rt, memory.clone(), &mut watch, false)),
        Refreshed::New(..)
    ));
}

#[test]
fn a_file_that_cannot_be_read_is_not_read_again_until_it_changes() {
    let rt = runtime(site("192.0.2.1"));
    let memory = Memory::unconfirmed(2, Err("users file truncated".into()));
    let mut watch = Watch::default();
    for _ in 0..2 {
        assert!(matches!(
            block_on(next(&rt, memory.clone(), &mut watch, false)),
            Refreshed::Kept
        ));
    }
    assert_eq!(memory.loads(), 1);
}
