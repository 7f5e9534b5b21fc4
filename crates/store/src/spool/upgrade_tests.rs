//! The one-file queue format next to the two-file one it replaced: a queue
//! written by an older build (`<id>.msg` + `<id>.env`) is read, updated,
//! delivered and removed by this one, and recovery never takes an
//! old-format message for an orphan. Also the later-state `.env` of a
//! one-file message, and what a crash during a removal leaves.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::spool::tests::files;
use crate::spool::{Envelope, RecipientState, Spool};

fn envelope(id: &str) -> Envelope {
    Envelope::new(
        id.to_string(),
        "alice@example.com".to_string(),
        [
            "bob@remote.example".to_string(),
            "carol@remote.example".to_string(),
        ],
        "client.example.com".to_string(),
        Some("192.0.2.7".parse().unwrap()),
        None,
    )
}

/// What a build before the one-file format left in `queue/`: the message
/// bytes in `<id>.msg`, the envelope as pretty JSON in `<id>.env`.
fn write_old_format(queue: &Path, env: &Envelope, message: &[u8]) {
    fs::write(queue.join(format!("{}.msg", env.id)), message).unwrap();
    let mut json = serde_json::to_vec_pretty(env).unwrap();
    json.push(b'\n');
    fs::write(queue.join(format!("{}.env", env.id)), json).unwrap();
}

#[test]
fn an_old_format_message_is_recovered_read_updated_and_removed() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let old = envelope(&Spool::new_id());
    let message = b"Subject: queued by the old build\r\n\r\nstill here\r\n";
    write_old_format(spool.dir(), &old, message);
    let new = envelope(&Spool::new_id());
    spool.store(&new, b"Subject: new\r\n\r\nx\r\n").unwrap();

    let report = spool.recover().unwrap();
    assert_eq!(report.queued, 2, "{report:?}");
    assert!(report.orphan_messages.is_empty() && report.orphan_envelopes.is_empty());
    assert!(report.unreadable.is_empty());
    assert_eq!(spool.list().unwrap(), [old.clone(), new.clone()]);
    assert_eq!(spool.load_envelope(&old.id).unwrap(), old);
    assert_eq!(spool.read_message(&old.id).unwrap(), message);
    let open = spool.open_message(&old.id).unwrap();
    assert_eq!((open.start, open.len), (0, message.len() as u64));

    // A deferred recipient's state goes to its .env as before.
    let mut updated = old.clone();
    updated.recipients[0].state = RecipientState::Delivered;
    updated.recipients[1].attempts = 1;
    spool.update_envelope(&updated).unwrap();
    assert_eq!(spool.load_envelope(&old.id).unwrap(), updated);
    assert_eq!(spool.read_message(&old.id).unwrap(), message);

    spool.remove(&old.id).unwrap();
    let want = [
        format!("{}.mail", new.id),
        "spare".to_string(),
        "tmp".to_string(),
    ];
    assert_eq!(files(spool.dir()), want);
    assert_eq!(
        spool.load_envelope(&old.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        spool.remove(&old.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn a_later_state_goes_to_a_side_env_that_supersedes_the_queue_file() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let env = envelope(&Spool::new_id());
    spool.store(&env, b"m\r\n").unwrap();
    let mail = spool.dir().join(format!("{}.mail", env.id));
    let before = fs::read(&mail).unwrap();

    let mut later = env.clone();
    later.recipients[0].state = RecipientState::Delivered;
    later.held = true;
    spool.update_envelope(&later).unwrap();
    assert_eq!(
        fs::read(&mail).unwrap(),
        before,
        "the queue file is never rewritten"
    );
    assert_eq!(spool.load_envelope(&env.id).unwrap(), later);
    assert_eq!(spool.list().unwrap(), [later.clone()]);
    assert_eq!(spool.read_message(&env.id).unwrap(), b"m\r\n");
    let report = spool.recover().unwrap();
    assert_eq!(report.queued, 1);
    assert!(report.orphan_envelopes.is_empty(), "{report:?}");

    spool.discard(&env.id).unwrap();
    assert_eq!(files(spool.dir()), ["spare", "tmp"]);
    assert_eq!(
        spool.update_envelope(&later).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(files(spool.dir()), ["spare", "tmp"]);
}

#[test]
fn a_removal_cut_short_by_a_crash_loses_nothing_still_pending() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    // The queue file's unlink was lost, the .env's was not: the message
    // comes back with its first envelope and is tried again (a duplicate
    // at worst).
    let back = envelope(&Spool::new_id());
    spool.store(&back, b"again").unwrap();
    // The queue file's unlink reached the disk, the .env's did not: the
    // .env alone is an orphan, removed.
    let gone = envelope(&Spool::new_id());
    spool.store(&gone, b"gone").unwrap();
    spool.update_envelope(&gone).unwrap();
    fs::remove_file(spool.dir().join(format!("{}.mail", gone.id))).unwrap();
    assert_eq!(
        spool.load_envelope(&gone.id).unwrap_err().kind(),
        ErrorKind::NotFound,
        "an .env alone is no message"
    );
    assert_eq!(spool.list().unwrap(), std::slice::from_ref(&back));

    let report = spool.recover().unwrap();
    assert_eq!(report.queued, 1);
    assert_eq!(report.orphan_envelopes, std::slice::from_ref(&gone.id));
    assert_eq!(spool.read_message(&back.id).unwrap(), b"again");
    assert_eq!(
        files(spool.dir()),
        [format!("{}.mail", back.id), "spare".into(), "tmp".into()]
    );
}

#[test]
fn a_stale_env_keeps_its_id_from_being_reused() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let env = envelope(&Spool::new_id());
    fs::write(spool.dir().join(format!("{}.env", env.id)), b"{}").unwrap();
    assert_eq!(
        spool.store(&env, b"m").unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    // And an old-format .msg alone is a crash's orphan, never delivered.
    let orphan = envelope(&Spool::new_id());
    fs::write(spool.dir().join(format!("{}.msg", orphan.id)), b"half").unwrap();
    assert!(spool.list().unwrap().is_empty());
    assert_eq!(
        spool.read_message(&orphan.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
