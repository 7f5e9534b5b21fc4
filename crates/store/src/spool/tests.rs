//! The queue spool as the server and the delivery side use it: store,
//! read back, update, remove, and recovery after a crash.
//! Written against the public API only.

use std::fs;
use std::io::{ErrorKind, Read, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::content::Content;
use crate::spool::{BodyType, Envelope, RecipientState, Spool, ENVELOPE_VERSION, FILE_VERSION};

fn envelope(id: &str, recipients: &[&str]) -> Envelope {
    Envelope::new(
        id.to_string(),
        "alice@example.com".to_string(),
        recipients.iter().map(|r| r.to_string()),
        "client.example.com".to_string(),
        Some("192.0.2.7".parse().unwrap()),
        Some("alice".to_string()),
    )
}

/// The names in `dir`, sorted.
pub(super) fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn open_creates_private_queue_and_tmp_directories() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    assert_eq!(spool.dir(), data.path().join("queue"));
    for dir in [data.path().join("queue"), data.path().join("queue/tmp")] {
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    Spool::open(data.path()).unwrap();
}

#[test]
fn store_then_read_back_round_trips() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let id = Spool::new_id();
    let mut env = envelope(&id, &["bob@remote.example", "carol@remote.example"]);
    env.body = BodyType::EightBitMime;
    let message = b"Received: from client\r\nSubject: hi\r\n\r\n\xc3\xa9t\xc3\xa9\r\n";
    spool.store(&env, message).unwrap();

    assert_eq!(
        files(spool.dir()),
        [format!("{id}.mail"), "spare".into(), "tmp".into()]
    );
    assert!(files(&spool.dir().join("tmp")).is_empty());
    assert_eq!(spool.load_envelope(&id).unwrap(), env);
    assert_eq!(spool.read_message(&id).unwrap(), message);
    let open = spool.open_message(&id).unwrap();
    assert_eq!(open.len, message.len() as u64);
    let mut copied = tempfile::tempfile().unwrap();
    open.copy(b"P: 1\r\n").write_to(&mut copied).unwrap();
    copied.rewind().unwrap();
    let mut bytes = Vec::new();
    copied.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, [&b"P: 1\r\n"[..], message].concat());
    assert_eq!(spool.list().unwrap(), vec![env.clone()]);
    let path = spool.dir().join(format!("{id}.mail"));
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The documented format: header line, envelope JSON, message.
    let file = fs::read(&path).unwrap();
    let eol = file.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&file[..eol]).unwrap();
    let len: usize = header
        .strip_prefix(&format!("portcullis-queue {FILE_VERSION} "))
        .unwrap()
        .parse()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&file[eol + 1..eol + 1 + len]).unwrap();
    assert_eq!(json["version"], ENVELOPE_VERSION);
    assert_eq!(json["recipients"][1]["state"], "pending");
    assert_eq!(&file[eol + 1 + len..], message);

    spool.remove(&id).unwrap();
    assert_eq!(files(spool.dir()), ["spare", "tmp"]);
    assert_eq!(spool.remove(&id).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        spool.load_envelope(&id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn list_is_sorted_by_id_and_skips_unreadable_envelopes() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let ids: Vec<String> = (0..5).map(|_| Spool::new_id()).collect();
    for id in ids.iter().rev() {
        spool.store(&envelope(id, &["x@y.example"]), b"m").unwrap();
    }
    fs::write(spool.dir().join(format!("{}.env", ids[2])), b"{ not json").unwrap();
    let listed: Vec<String> = spool.list().unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(listed, [ids[0].as_str(), &ids[1], &ids[3], &ids[4]]);
}

#[test]
fn store_many_commits_a_batch_and_fails_items_independently() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let a = envelope(&Spool::new_id(), &["a@r.example"]);
    let b = envelope(&Spool::new_id(), &["b@r.example"]);
    let bad = envelope("../../etc/passwd", &["c@r.example"]);
    let results = spool.store_many(&[(&a, b"A"), (&bad, b"X"), (&b, b"B"), (&a, b"again")]);
    assert!(results[0].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(results[2].is_ok());
    assert_eq!(
        results[3].as_ref().unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(spool.read_message(&a.id).unwrap(), b"A");
    assert_eq!(spool.read_message(&b.id).unwrap(), b"B");
    assert!(files(&spool.dir().join("tmp")).is_empty());
    // Storing an id that is already queued is refused too.
    assert_eq!(
        spool.store(&a, b"later").unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(spool.read_message(&a.id).unwrap(), b"A");
}

#[test]
fn ids_from_outside_cannot_escape_the_queue_directory() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    for id in ["../users", "a/b", "", "lower", "A.B"] {
        assert_eq!(
            spool.load_envelope(id).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{id}"
        );
        assert_eq!(
            spool.read_message(id).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{id}"
        );
        assert_eq!(
            spool.remove(id).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{id}"
        );
    }
}

#[test]
fn update_envelope_replaces_it_atomically() {
    let data = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(data.path()).unwrap());
    let id = Spool::new_id();
    let env = envelope(&id, &["bob@remote.example"]);
    spool.store(&env, b"m").unwrap();

    // A reader running alongside the updates must always see a complete
    // envelope, old or new: never a missing or half-written file.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (spool, stop, id) = (Arc::clone(&spool), Arc::clone(&stop), id.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                let seen = spool.load_envelope(&id).expect("always a whole envelope");
                assert!(seen.recipients[0].attempts <= 50);
                reads += 1;
            }
            reads
        })
    };
    let mut current = env;
    for attempt in 1..=50 {
        current.recipients[0].attempts = attempt;
        current.recipients[0].last_error = Some(format!("451 4.7.1 try later ({attempt})"));
        current.recipients[0].next_attempt += 60;
        spool.update_envelope(&current).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(spool.load_envelope(&id).unwrap(), current);
    assert!(
        files(&spool.dir().join("tmp")).is_empty(),
        "no temp files left"
    );

    current.recipients[0].state = RecipientState::Delivered;
    spool.remove(&id).unwrap();
    assert_eq!(
        spool.update_envelope(&current).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        files(spool.dir()),
        ["spare", "tmp"],
        "an update never resurrects a removed message"
    );
}

#[test]
fn recover_removes_orphans_and_empties_tmp() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let kept = Spool::new_id();
    spool
        .store(&envelope(&kept, &["a@r.example"]), b"kept")
        .unwrap();
    // Crash before the .env rename: a .msg alone.
    let orphan_msg = Spool::new_id();
    fs::write(spool.dir().join(format!("{orphan_msg}.msg")), b"half").unwrap();
    // Crash before the directory fsync, .env rename persisted but not .msg.
    let orphan_env = Spool::new_id();
    let env_json = serde_json::to_vec(&envelope(&orphan_env, &["b@r.example"])).unwrap();
    fs::write(spool.dir().join(format!("{orphan_env}.env")), env_json).unwrap();
    // Crash while writing temp files.
    fs::write(spool.dir().join("tmp").join("X.msg.1.2"), b"partial").unwrap();
    fs::write(spool.dir().join("tmp").join("X.env.1.2"), b"{").unwrap();
    // A corrupt envelope with its message is left for the admin.
    let broken = Spool::new_id();
    fs::write(spool.dir().join(format!("{broken}.msg")), b"m").unwrap();
    fs::write(spool.dir().join(format!("{broken}.env")), b"garbage").unwrap();
    // So is a queue file whose header is damaged.
    let damaged = Spool::new_id();
    fs::write(
        spool.dir().join(format!("{damaged}.mail")),
        b"portcullis-queue 1 99\n{",
    )
    .unwrap();
    // Files that are not queue entries are left alone.
    fs::write(spool.dir().join("README"), b"admin notes").unwrap();

    let report = spool.recover().unwrap();
    assert_eq!(report.queued, 1);
    assert_eq!(report.orphan_messages, [orphan_msg]);
    assert_eq!(report.orphan_envelopes, [orphan_env]);
    assert_eq!(report.tmp_files_removed, 2);
    assert_eq!(report.unreadable, [broken.as_str(), &damaged]);
    let mut want = vec![
        format!("{broken}.env"),
        format!("{broken}.msg"),
        format!("{damaged}.mail"),
        format!("{kept}.mail"),
        "README".to_string(),
        "spare".to_string(),
        "tmp".to_string(),
    ];
    want.sort();
    assert_eq!(files(spool.dir()), want);
    assert!(files(&spool.dir().join("tmp")).is_empty());
    assert_eq!(spool.read_message(&kept).unwrap(), b"kept");

    // Recovery is idempotent.
    let again = spool.recover().unwrap();
    assert!(again.orphan_messages.is_empty() && again.orphan_envelopes.is_empty());
    assert_eq!(again.tmp_files_removed, 0);
}

#[test]
fn envelopes_of_another_version_or_id_are_refused_by_name() {
    let data = tempfile::tempdir().unwrap();
    let spool = Spool::open(data.path()).unwrap();
    let id = Spool::new_id();
    spool.store(&envelope(&id, &["a@r.example"]), b"m").unwrap();
    // A later state of the envelope lives in `<id>.env` and supersedes the
    // one in the queue file: it is checked the same way.
    let path = spool.dir().join(format!("{id}.env"));
    let mut json = serde_json::to_value(spool.load_envelope(&id).unwrap()).unwrap();

    json["version"] = 2.into();
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = spool.load_envelope(&id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string().contains("version 2") && err.to_string().contains(&id),
        "{err}"
    );

    json["version"] = 1.into();
    json["id"] = "OTHER".into();
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = spool.load_envelope(&id).unwrap_err();
    assert!(err.to_string().contains("\"OTHER\""), "{err}");
}

#[test]
fn concurrent_stores_get_unique_ids_and_all_survive() {
    let data = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(data.path()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let spool = Arc::clone(&spool);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let id = Spool::new_id();
                        let body = format!("thread {t} message {i}");
                        spool
                            .store(&envelope(&id, &["x@r.example"]), body.as_bytes())
                            .unwrap();
                        (id, body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let stored: Vec<(String, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(spool.list().unwrap().len(), 100);
    for (id, body) in stored {
        assert_eq!(spool.read_message(&id).unwrap(), body.as_bytes());
    }
}
