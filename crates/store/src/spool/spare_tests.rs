//! Spare queue files: a delivered message's file holds the next message,
//! and nothing unsafe or oversized is ever reused.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::spare::{Spares, MAX_SIZE};
use super::tests::files;
use crate::spool::{Envelope, Spool};

fn envelope(id: &str) -> Envelope {
    Envelope::new(
        id.to_string(),
        "alice@example.com".to_string(),
        ["bob@remote.example".to_string()],
        "client.example.com".to_string(),
        None,
        None,
    )
}

/// Stores a message under a new id; returns the id.
fn store(spool: &Spool, message: &[u8]) -> String {
    let id = Spool::new_id();
    spool.store(&envelope(&id), message).unwrap();
    id
}

fn inode(spool: &Spool, id: &str) -> u64 {
    fs::metadata(spool.dir().join(format!("{id}.mail")))
        .unwrap()
        .ino()
}

#[test]
fn a_delivered_message_file_holds_the_next_message_cut_to_its_length() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    spool.recover().unwrap();
    let long = store(&spool, &[b'x'; 5000]);
    let first_inode = inode(&spool, &long);
    spool.remove(&long).unwrap();
    assert_eq!(files(&spool.dir().join("spare")).len(), 1);

    let short = store(&spool, b"Subject: short\r\n\r\nhi\r\n");
    assert_eq!(inode(&spool, &short), first_inode, "the spare was reused");
    assert_eq!(
        spool.read_message(&short).unwrap(),
        b"Subject: short\r\n\r\nhi\r\n"
    );
    assert_eq!(spool.load_envelope(&short).unwrap(), envelope(&short));
    assert!(files(&spool.dir().join("spare")).is_empty());
    assert_eq!(
        files(spool.dir()),
        [format!("{short}.mail"), "spare".into(), "tmp".into()]
    );
}

#[test]
fn a_removed_message_never_comes_back_through_its_spare() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    spool.recover().unwrap();
    let id = store(&spool, b"secret\r\n");
    spool.discard(&id).unwrap();
    assert!(spool.read_message(&id).is_err());
    assert!(spool.list().unwrap().is_empty());
    // A restart finds the spare, not a message.
    let again = Spool::open(data.path()).unwrap();
    let report = again.recover().unwrap();
    assert_eq!((report.queued, report.spares), (0, 1));
}

#[test]
fn recover_keeps_only_spares_safe_to_reuse() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let spare = spool.dir().join("spare");
    fs::write(spare.join("good"), b"old message").unwrap();
    fs::write(spare.join("big"), vec![b'x'; MAX_SIZE as usize + 1]).unwrap();
    // Two links: after a crash mid-rename, its other name may be a queued message.
    let queued = store(&spool, b"still queued\r\n");
    fs::hard_link(
        spool.dir().join(format!("{queued}.mail")),
        spare.join("linked"),
    )
    .unwrap();
    fs::create_dir(spare.join("subdir")).unwrap();

    let report = spool.recover().unwrap();
    assert_eq!((report.spares, report.spares_removed), (1, 2));
    assert_eq!(files(&spare), ["good", "subdir"]);
    assert_eq!(spool.read_message(&queued).unwrap(), b"still queued\r\n");

    let next = store(&spool, b"new\r\n");
    assert_eq!(spool.read_message(&next).unwrap(), b"new\r\n");
    assert_eq!(files(&spare), ["subdir"]);
    assert_eq!(spool.read_message(&queued).unwrap(), b"still queued\r\n");
}

#[test]
fn large_files_are_unlinked_not_kept() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    spool.recover().unwrap();
    let big = store(&spool, &vec![b'x'; MAX_SIZE as usize + 1]);
    spool.remove(&big).unwrap();
    assert!(files(&spool.dir().join("spare")).is_empty());
    assert_eq!(files(spool.dir()), ["spare", "tmp"]);
}

#[test]
fn the_pool_keeps_at_most_its_size_at_start_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let spare = dir.path().join("spare");
    fs::create_dir(&spare).unwrap();
    for name in ["a", "b", "c", "d"] {
        fs::write(spare.join(name), b"old").unwrap();
    }
    let pool = Spares::with_max(spare.clone(), 3);
    assert_eq!(pool.load().unwrap(), 1);
    assert_eq!((pool.ready(), files(&spare).len()), (3, 3));

    let removed = dir.path().join("removed.mail");
    fs::write(&removed, b"delivered").unwrap();
    assert!(!pool.keep(&removed).unwrap(), "the pool is full");
    assert!(removed.exists(), "the caller unlinks what is not kept");
    assert!(pool.write(&crate::content::Bytes(b"new")).unwrap().is_ok());
    assert!(pool.keep(&removed).unwrap());
    assert_eq!(pool.ready(), 3);
}

#[test]
fn a_spool_that_did_not_recover_writes_only_over_its_own_spares() {
    let data = tempfile::tempdir().unwrap();
    let server = Spool::open(data.path()).unwrap();
    server.recover().unwrap();
    let id = store(&server, b"one\r\n");
    // Another process (the admin's offline command) removes a message:
    // the file goes to spare/, which the server's pool does not know.
    let admin = Spool::open(data.path()).unwrap();
    admin.remove(&id).unwrap();
    let next = store(&server, b"two\r\n");
    assert_eq!(server.read_message(&next).unwrap(), b"two\r\n");
    assert_eq!(files(&server.dir().join("spare")).len(), 1);
}
