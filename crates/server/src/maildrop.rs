//! Picking up the maildrop (`<data_dir>/maildrop/`, written by `portcullis
//! sendmail` while the server was down; the format is in
//! `portcullis_store::maildrop`): at start and every [`POLL`] after.
//!
//! Each drop file is judged as the same message from sendmail over loopback
//! SMTP would be (recipients ruled on as from 127.0.0.1), then queued whole
//! under a queue id derived from its name, with a `Received:` header naming
//! the file's owner (`from userid 1000`): who wrote it comes from the file
//! system, never from its content. Recipients that the SMTP dialog would
//! have refused get a bounce (sendmail has long exited 0). Only once the
//! message is in the queue (fsynced) is the drop file removed.
//!
//! Crash safety: the derived ids make the import idempotent (a file found
//! again after a crash between queueing and removal is only removed), and
//! the queue runner leaves a message with such an id alone while its drop
//! file exists (`maildrop::is_pending`), so it cannot be delivered and then
//! imported again.
//!
//! Refused, logged and removed: symbolic links (opened with `O_NOFOLLOW`),
//! anything not a regular file (FIFOs are opened non-blocking), files with
//! more than one link (a hard link to someone else's file), names that are
//! not drop names, and malformed or oversized files.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_directory::recipient;
use portcullis_queue::dsn::{self, DsnKind, Report};
use portcullis_queue::Failure;
use portcullis_relay::ReverseDns;
use portcullis_smtp::address::{parse_forward_path, parse_reverse_path};
use portcullis_store::maildrop::{self, Drop};
use portcullis_store::spool::{BodyType, Envelope, Spool};
use tracing::{info, warn};

use super::Shared;

/// How often the directory is looked at.
const POLL: Duration = Duration::from_secs(1);
/// The directory's mode: set-group-id (files get the server's group, so it
/// can read them), sticky (nobody removes another's file), `-wx` for group
/// and others (anyone may create a file; nobody may list).
pub(crate) const DIR_MODE: u32 = 0o3733;
/// A temporary file older than this was left by a sendmail that died.
const STALE_TMP: Duration = Duration::from_secs(24 * 3600);
/// Room for the envelope lines on top of `limits.message_size`.
const ENVELOPE_ALLOWANCE: u64 = 1024 * 1024;
/// Maildrop messages are ruled on as from this client: sendmail's own
/// path when the server is up.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Creates `<data_dir>/maildrop` (or puts its mode right) before the
/// privilege drop gives it to the mail user.
pub(crate) fn prepare(data_dir: &Path) -> Result<(), String> {
    let dir = data_dir.join(maildrop::DIR);
    let fail = |e: io::Error| format!("cannot prepare the maildrop {}: {e}", dir.display());
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "the maildrop {} is not a directory; remove it",
                dir.display()
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dir).map_err(fail)?,
        Err(e) => return Err(fail(e)),
    }
    set_mode(&dir).map_err(fail)
}

fn set_mode(dir: &Path) -> io::Result<()> {
    if fs::symlink_metadata(dir)?.permissions().mode() & 0o7777 != DIR_MODE {
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Starts the poller on the current tokio runtime.
pub(crate) fn spawn(shared: Arc<Shared>) {
    tokio::spawn(async move {
        let dir = shared.current.get().config.data_dir.join(maildrop::DIR);
        // After a privilege drop the owner may fix the mode again.
        if let Err(e) = set_mode(&dir) {
            warn!("cannot set the mode of the maildrop {}: {e}", dir.display());
        }
        let mut warned = HashSet::new();
        loop {
            let s = shared.clone();
            warned = tokio::task::spawn_blocking(move || {
                scan(&s, &mut warned);
                warned
            })
            .await
            .unwrap_or_default();
            tokio::time::sleep(POLL).await;
        }
    });
}

/// Why a file was not imported.
enum NotNow {
    /// Never: the file is removed.
    Refused(Option<u32>, String),
    /// Not this time (a full disk, a recipient that needs DNS): tried again.
    Later(String),
}

/// One look at the directory: every drop file, oldest first. `warned`
/// holds the files already warned about, so a file that keeps failing is
/// logged once, not every second.
fn scan(shared: &Arc<Shared>, warned: &mut HashSet<String>) {
    let dir = shared.current.get().config.data_dir.join(maildrop::DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            if warned.insert(String::new()) {
                warn!("cannot read the maildrop {}: {e}", dir.display());
            }
            return;
        }
    };
    let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for os_name in names {
        let Some(name) = os_name.to_str() else {
            refuse(
                &dir,
                &os_name.to_string_lossy(),
                &os_name,
                None,
                "the name is not UTF-8",
                warned,
            );
            continue;
        };
        if name.starts_with('.') {
            sweep_tmp(&dir, name);
            continue;
        }
        if !maildrop::is_drop_name(name) {
            refuse(
                &dir,
                name,
                &os_name,
                None,
                "not a maildrop file name",
                warned,
            );
            continue;
        }
        match import(shared, &dir, name) {
            Ok(()) => {
                warned.remove(name);
            }
            Err(NotNow::Refused(uid, why)) => refuse(&dir, name, &os_name, uid, &why, warned),
            Err(NotNow::Later(why)) => {
                if warned.insert(name.to_string()) {
                    warn!(
                        file = name,
                        "maildrop: not imported yet, will try again: {why}"
                    );
                }
            }
        }
    }
    if warned.len() > 10_000 {
        warned.clear();
    }
}

/// Logs and removes a file that will never be imported (the directory
/// entry only: a symbolic link is removed, never followed).
fn refuse(
    dir: &Path,
    name: &str,
    os_name: &std::ffi::OsStr,
    uid: Option<u32>,
    why: &str,
    warned: &mut HashSet<String>,
) {
    let path = dir.join(os_name);
    let uid = uid.or_else(|| fs::symlink_metadata(&path).ok().map(|m| m.uid()));
    let removed = match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => fs::remove_dir(&path),
        _ => fs::remove_file(&path),
    };
    match removed {
        Ok(()) => warn!(file = name, uid, "maildrop: refused and removed: {why}"),
        Err(e) => {
            if warned.insert(name.to_string()) {
                warn!(
                    file = name,
                    uid, "maildrop: refused ({why}) but cannot remove it: {e}"
                );
            }
        }
    }
}

/// Removes a temporary file left by a sendmail that died while writing.
fn sweep_tmp(dir: &Path, name: &str) {
    let path = dir.join(name);
    let old = fs::symlink_metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .is_ok_and(|age| age > STALE_TMP)
        });
    if old && fs::remove_file(&path).is_ok() {
        info!(file = name, "maildrop: removed a stale temporary file");
    }
}

/// Imports drop file `name`: queued (and its file removed), or why not.
fn import(shared: &Arc<Shared>, dir: &Path, name: &str) -> Result<(), NotNow> {
    let path = dir.join(name);
    let rt = shared.current.get();
    let config = &rt.config;
    // O_NOFOLLOW: a symbolic link planted here must not make the server
    // read (and mail out) a file its owner could not read. O_NONBLOCK: a
    // FIFO must not hang the poller.
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(NotNow::Refused(None, "a symbolic link".into()))
        }
        // Gone meanwhile (another poll, or its writer).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(NotNow::Later(format!("cannot open it: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| NotNow::Later(format!("cannot stat it: {e}")))?;
    let uid = meta.uid();
    let refused = |why: String| NotNow::Refused(Some(uid), why);
    if !meta.file_type().is_file() {
        return Err(refused("not a regular file".into()));
    }
    // A second link may be someone else's file linked in to be sent as theirs.
    if meta.nlink() != 1 {
        return Err(refused(format!("it has {} hard links", meta.nlink())));
    }
    let limit = config
        .limits
        .message_size
        .saturating_add(ENVELOPE_ALLOWANCE);
    if meta.len() > limit {
        return Err(refused("larger than limits.message_size".into()));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| NotNow::Later(format!("cannot read it: {e}")))?;
    let drop = maildrop::decode(&bytes).map_err(&refused)?;
    if u64::try_from(drop.message.len()).unwrap_or(u64::MAX) > config.limits.message_size {
        return Err(refused("larger than limits.message_size".into()));
    }
    let sender = parse_reverse_path(&format!("<{}>", drop.sender), true)
        .map_err(|e| refused(format!("invalid sender {:?}: {e}", drop.sender)))?
        .to_string();

    let queued = queue(shared, name, uid, &sender, &drop)?;
    // Only now that the message is in the queue may the file go.
    fs::remove_file(&path).map_err(|e| NotNow::Later(format!("cannot remove it: {e}")))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    for id in queued {
        shared.outbound.kick(&id);
    }
    Ok(())
}

/// Queues the message of drop file `name` (and a bounce for the
/// recipients refused), each unless already queued by an earlier import;
/// returns the ids to kick.
fn queue(
    shared: &Arc<Shared>,
    name: &str,
    uid: u32,
    sender: &str,
    drop: &Drop,
) -> Result<Vec<String>, NotNow> {
    let rt = shared.current.get();
    let ctx = rt.recipients();
    let (id, bounce) = (maildrop::queue_id(name), maildrop::bounce_id(name));
    let (accepted, refused) = sort_recipients(&ctx, drop)?;
    let utf8 = !sender.is_ascii() || drop.recipients.iter().any(|r| !r.is_ascii());
    let one = match drop.recipients.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    };
    // A local submission is ours to vouch for: DKIM-signed as mail from
    // authenticated users is (RFC 6376), once, before it is queued.
    let signatures = rt
        .dkim
        .sign(&drop.message, |f| {
            f(&drop.message);
            Ok(())
        })
        .unwrap_or_else(|e| {
            warn!(queue_id = %id, "queued unsigned: {e}");
            String::new()
        });
    let mut message = signatures.into_bytes();
    message.extend_from_slice(received(&rt.config.hostname, uid, &id, one).as_bytes());
    message.extend_from_slice(&drop.message);
    let mut env = Envelope::new(
        id.clone(),
        sender.to_string(),
        accepted.iter().cloned(),
        String::new(),
        None,
        None,
    );
    if drop.eight_bit {
        env.body = BodyType::EightBitMime;
    }
    env.smtputf8 = utf8;
    let spool = &shared.spool;
    let later = |e: io::Error| NotNow::Later(format!("cannot queue it: {e}"));
    let mut kick = Vec::new();
    let mut again = false;
    // The message first: a crash before the bounce then redoes only the bounce.
    if !accepted.is_empty() {
        if queued(spool, &id).map_err(later)? {
            again = true;
        } else {
            spool.store(&env, &message).map_err(later)?;
        }
        kick.push(id.clone());
    }
    if !refused.is_empty() && !sender.is_empty() && !queued(spool, &bounce).map_err(later)? {
        let original = Envelope::new(
            id.clone(),
            sender.to_string(),
            drop.recipients.iter().cloned(),
            String::new(),
            None,
            None,
        );
        let dsn = dsn::compose(&Report {
            reporting_mta: &rt.config.hostname,
            original: &original,
            message: &message,
            kind: DsnKind::Failure,
            recipients: &refused,
            now: portcullis_store::clock::unix_now(),
            id: &bounce,
        });
        spool
            .store(&dsn::envelope(&bounce, sender, dsn.eight_bit), &dsn.bytes)
            .map_err(later)?;
        kick.push(bounce.clone());
    }
    if again {
        info!(queue_id = %id, uid, "maildrop: already queued (by a run that stopped before removing the file)");
        return Ok(kick);
    }
    for (r, f) in &refused {
        warn!(queue_id = %id, uid, to = %r, "maildrop: recipient refused: {f}");
    }
    info!(
        queue_id = %id,
        uid,
        from = %sender,
        accepted = accepted.len(),
        refused = refused.len(),
        "maildrop: message queued"
    );
    Ok(kick)
}

/// Recipients refused, each with its failure.
type Refused = Vec<(String, Failure)>;

/// The drop file's recipients decided as at RCPT from loopback: accepted
/// (local ones are resolved again by the queue runner) and refused with
/// their failure; a temporary refusal leaves the whole file for later.
fn sort_recipients(
    ctx: &recipient::Context<'_>,
    drop: &Drop,
) -> Result<(Vec<String>, Refused), NotNow> {
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for r in &drop.recipients {
        match parse_forward_path(&format!("<{r}>"), true) {
            Err(e) => refused.push((r.clone(), Failure::local((5, 1, 3), e.to_string()))),
            Ok(mb) => {
                let d = recipient::decide(ctx, &mb, LOOPBACK, &ReverseDns::NotChecked, None);
                match d.reply() {
                    // Local ones are delivered by the queue runner, which
                    // resolves the name again.
                    None => accepted.push(r.clone()),
                    Some(reply) if reply.code >= 500 => {
                        let e = reply.enhanced.map_or((5, 0, 0), |e| (e.0, e.1, e.2));
                        refused.push((r.clone(), Failure::local(e, reply.lines.join(" "))));
                    }
                    Some(reply) => {
                        let why = reply.lines.join(" ");
                        return Err(NotNow::Later(format!("recipient {r}: {why}")));
                    }
                }
            }
        }
    }
    Ok((accepted, refused))
}

/// Whether message `id` is in the queue already.
fn queued(spool: &Spool, id: &str) -> io::Result<bool> {
    match spool.load_envelope(id) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The `Received:` header of a maildrop message: no client, but the user
/// who wrote the file (as Postfix's pickup writes it).
fn received(hostname: &str, uid: u32, id: &str, only: Option<&str>) -> String {
    let mut h = format!("Received: by {hostname} (Portcullis, from userid {uid})\r\n\tid {id}");
    // Named only when alone: listing several would disclose Bcc recipients.
    if let Some(r) = only.filter(|r| !r.chars().any(char::is_control)) {
        h.push_str(&format!("\r\n\tfor <{r}>"));
    }
    h.push_str(&format!(
        "; {}\r\n",
        super::headers::rfc5322_date(SystemTime::now())
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_received_header_names_the_owner_and_only_a_lone_recipient() {
        let h = received("mx.test", 1000, "MDX", Some("bob@example.org"));
        assert!(
            h.starts_with("Received: by mx.test (Portcullis, from userid 1000)\r\n\tid MDX\r\n\tfor <bob@example.org>; "),
            "{h}"
        );
        assert!(h.ends_with(" +0000\r\n"), "{h}");
        let h = received("mx.test", 0, "MDX", None);
        assert!(
            h.contains("(Portcullis, from userid 0)\r\n\tid MDX; "),
            "{h}"
        );
    }
}
