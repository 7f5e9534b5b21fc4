//! Storing an accepted message before the 250 (docs/reference.md §7): local recipients
//! into their Maildirs (or, with `delivery.lmtp`, into the queue spool as
//! final mailboxes for the LMTP server), remote ones into the queue spool,
//! everything fsynced.
//! Either every copy is durable or none is kept and the client gets 451.
//! The content comes from memory or from the session's scratch file
//! ([`Body`]), copied behind the trace headers without being read whole.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use portcullis_config::Config;
use portcullis_smtp::session::Message;
use portcullis_smtp::Reply;
use portcullis_store::maildir::{self, Maildir};
use portcullis_store::spool::{Envelope, Spool};
use tracing::{error, info};

use super::headers::{self, ClientInfo};
use super::incoming::{Body, Prefixed};
use super::rulings::Plan;

/// Everything needed to write one message, owned so it can move to a blocking thread.
pub(crate) struct Job {
    pub config: std::sync::Arc<Config>,
    pub spool: std::sync::Arc<Spool>,
    pub plan: Plan,
    pub msg: Message,
    pub body: Body,
    pub client_ip: IpAddr,
    pub client_name: Option<String>,
    /// The DKIM keys to sign the queued copy with: set only for a trusted
    /// sender (authenticated, or a `relay.allow` client), so that mail from
    /// outside claiming a local `From:` is never signed on its way out.
    pub dkim: Option<std::sync::Arc<super::dkim::Keys>>,
    /// The inbound checks' results, for mail from outside.
    pub inbound: Option<InboundResult>,
}

/// What the inbound checks add to and drop from a message from outside.
#[derive(Default)]
pub(crate) struct InboundResult {
    /// The `Authentication-Results:` field (empty: none).
    pub header: String,
    /// The header section without forged `Authentication-Results:`, and the
    /// length of the original header section it replaces.
    pub strip: Option<(Vec<u8>, usize)>,
}

/// A stored message.
pub(crate) struct Stored {
    /// The queue id for the 250 reply.
    pub id: String,
    /// The messages put in the queue spool, for the runner.
    pub queued: Vec<Queued>,
}

/// A message put in the queue spool: its envelope, and its bytes when
/// they were in memory anyway (a small message), so that the first attempt
/// need not read them back.
pub(crate) struct Queued {
    pub envelope: Envelope,
    pub message: Option<Vec<u8>>,
}

/// Writes the message durably.
pub(crate) fn store(job: Job) -> Result<Stored, Reply> {
    // A large message whose trace headers were written ahead of its
    // content keeps the id and time they name.
    let (id, at) = match job.body.front() {
        Some(front) => (front.id.clone(), front.at),
        None => (Spool::new_id(), SystemTime::now()),
    };
    let client = ClientInfo {
        ip: job.client_ip,
        name: job.client_name.as_deref(),
    };
    let head = job.body.head();
    let whole = u64::try_from(head.len()) == Ok(job.body.len());
    let received = trace(
        &job.msg,
        &client,
        &job.config.hostname,
        (&id, at),
        (head, whole),
    );
    let mut written: Vec<PathBuf> = Vec::new();
    let mut queued: Vec<Queued> = Vec::new();
    let result = write_all(&job, &id, &received, &mut written, &mut queued);
    match result {
        Ok(()) => {
            info!(
                queue_id = %id,
                from = %job.msg.mail_from,
                size = job.body.len(),
                local = job.plan.mailboxes.len(),
                remote = job.plan.remote.len(),
                "message accepted"
            );
            Ok(Stored { id, queued })
        }
        Err(e) => {
            // Nothing half-kept: undo the copies already made before answering 451.
            for path in &written {
                let _ = std::fs::remove_file(path);
            }
            for queued in &queued {
                let _ = job.spool.discard(&queued.envelope.id);
            }
            error!(queue_id = %id, "message not stored: {e}");
            Err(Reply::new(
                451,
                (4, 3, 0),
                "Local error in processing, try again later",
            ))
        }
    }
}

fn write_all(
    job: &Job,
    id: &str,
    received: &str,
    written: &mut Vec<PathBuf>,
    queued: &mut Vec<Queued>,
) -> std::io::Result<()> {
    let (auth_results, strip) = match &job.inbound {
        Some(r) => (r.header.as_str(), r.strip.as_ref()),
        None => ("", None),
    };
    let (headers, skip) = strip.map_or((&[][..], 0), |(h, n)| (h.as_slice(), *n as u64));
    if !job.plan.mailboxes.is_empty() && job.config.delivery.lmtp.is_some() {
        // RFC 5321 §4.4: the LMTP server adds Return-Path at final delivery.
        let prefix = format!("{received}{auth_results}");
        let content = Prefixed {
            prefix: prefix.as_bytes(),
            headers,
            skip,
            body: &job.body,
            durable: None,
        };
        // Recorded before the write: a half-written message is removed too.
        queue(job, queued, for_mailboxes(job, id.to_string()), &content)?;
    } else if !job.plan.mailboxes.is_empty() {
        let prefix = maildir_prefix(&job.msg, received, auth_results);
        deliver_local(job, prefix.as_bytes(), (headers, skip), written)?;
    }
    if !job.plan.remote.is_empty() {
        // RFC 6376: signed once, here, before the first delivery attempt.
        let signatures = match &job.dkim {
            Some(keys) => keys
                .sign(job.body.head(), |f| job.body.feed(f))
                .unwrap_or_else(|e| {
                    error!(queue_id = %id, "queued unsigned: {e}");
                    String::new()
                }),
            None => String::new(),
        };
        let prefix = format!("{signatures}{received}{auth_results}");
        let content = Prefixed {
            prefix: prefix.as_bytes(),
            headers,
            skip,
            body: &job.body,
            durable: None,
        };
        let queue_id = if queued.is_empty() {
            id.to_string()
        } else {
            Spool::new_id()
        };
        let mut env = Envelope::new(
            queue_id.clone(),
            job.msg.mail_from.to_string(),
            job.plan.remote.iter().cloned(),
            job.msg.helo.clone(),
            Some(job.client_ip),
            job.msg.auth_user.clone(),
        );
        env.body = job.msg.params.body.into();
        env.smtputf8 = job.msg.params.smtputf8;
        queue(job, queued, env, &content)?;
    }
    Ok(())
}

/// Stores one queued copy, recorded in `queued` before the write so that
/// a half-written one is removed too.
fn queue(
    job: &Job,
    queued: &mut Vec<Queued>,
    envelope: Envelope,
    content: &Prefixed,
) -> std::io::Result<()> {
    let message = in_memory(content);
    queued.push(Queued { envelope, message });
    let last = &queued[queued.len() - 1];
    match &last.message {
        Some(bytes) => job.spool.store(&last.envelope, bytes),
        None => job.spool.store_content(&last.envelope, content),
    }
}

/// The bytes `content` writes, when the whole message is in memory.
fn in_memory(content: &Prefixed) -> Option<Vec<u8>> {
    let head = content.body.head();
    if u64::try_from(head.len()) != Ok(content.body.len()) {
        return None;
    }
    let rest = head.get(usize::try_from(content.skip).ok()?..)?;
    let mut bytes = Vec::with_capacity(content.prefix.len() + content.headers.len() + rest.len());
    bytes.extend_from_slice(content.prefix);
    bytes.extend_from_slice(content.headers);
    bytes.extend_from_slice(rest);
    Some(bytes)
}

/// Delivers into the Maildir of each local recipient: `prefix`, then the
/// body, whose first `skip` octets are replaced by `headers`.
fn deliver_local(
    job: &Job,
    prefix: &[u8],
    (headers, skip): (&[u8], u64),
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    // Written once: the scratch file may already hold exactly this copy.
    let durable = match headers.is_empty() && skip == 0 {
        true => job.body.seal(prefix)?,
        false => None,
    };
    let local = Prefixed {
        prefix,
        headers,
        skip,
        body: &job.body,
        durable,
    };
    let dirs: Vec<maildir::MaildirPath> = job
        .plan
        .mailboxes
        .keys()
        .map(|user| {
            maildir::maildir_path(
                job.config.delivery.maildir.as_deref(),
                &job.config.data_dir,
                user,
            )
        })
        .collect();
    let mut first_error = None;
    for r in Maildir::deliver_copies(&dirs, &local) {
        match r {
            Ok(path) => written.push(path),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The `Received:` header (naming `id` and dated `at`), then for an
/// authenticated user's message (RFC 6409 §8) the `Date:` and `Message-ID:`
/// its header section (in `head`, all of the message if `whole`) lacks:
/// the submission listeners require AUTH, so this covers them too, and
/// mail relayed from other servers is left alone.
pub(crate) fn trace(
    msg: &Message,
    client: &ClientInfo<'_>,
    hostname: &str,
    (id, at): (&str, SystemTime),
    (head, whole): (&[u8], bool),
) -> String {
    let mut trace = headers::received(msg, client, hostname, id, at);
    if msg.auth_user.is_some() {
        trace.push_str(&headers::submission_fields(head, whole, hostname, id, at));
    }
    trace
}

/// The headers a Maildir copy starts with: `Return-Path:` (RFC 5321 §4.4),
/// then [`trace`], then the `Authentication-Results:` field.
pub(crate) fn maildir_prefix(msg: &Message, trace: &str, auth_results: &str) -> String {
    format!(
        "{}{trace}{auth_results}",
        headers::return_path(&msg.mail_from)
    )
}

/// The envelope of the copy for the LMTP server: one recipient per final
/// mailbox, never resolved through the aliases again.
fn for_mailboxes(job: &Job, id: String) -> Envelope {
    let mut env = Envelope::new(
        id,
        job.msg.mail_from.to_string(),
        job.plan.mailboxes.values().cloned(),
        job.msg.helo.clone(),
        Some(job.client_ip),
        job.msg.auth_user.clone(),
    );
    for (r, user) in env.recipients.iter_mut().zip(job.plan.mailboxes.keys()) {
        r.mailbox = Some(user.clone());
    }
    env.body = job.msg.params.body.into();
    env.smtputf8 = job.msg.params.smtputf8;
    env
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::incoming::Incoming;
    use portcullis_store::content::Content;

    async fn body(spool: &Arc<Spool>, chunks: &[&[u8]]) -> Body {
        let mut incoming = Incoming::new(spool.clone());
        for chunk in chunks {
            incoming.append(chunk.to_vec(), |_| None).await;
        }
        incoming.take().await.unwrap()
    }

    fn written(content: &Prefixed) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        content
            .write_to(&mut std::fs::File::create(&path).unwrap())
            .unwrap();
        std::fs::read(&path).unwrap()
    }

    #[tokio::test]
    async fn the_bytes_kept_in_memory_are_the_bytes_written() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let small = body(
            &spool,
            &[
                b"Authentication-Results: forged\r\n",
                b"Subject: a\r\n\r\nhi\r\n",
            ],
        )
        .await;
        let strip = b"Subject: a\r\n".as_slice();
        for (headers, skip) in [(&b""[..], 0), (strip, 44)] {
            let content = Prefixed {
                prefix: b"Received: x\r\n",
                headers,
                skip,
                body: &small,
                durable: None,
            };
            assert_eq!(in_memory(&content).unwrap(), written(&content));
        }
        // Past the spill threshold the message is in a file: not kept.
        let large = body(&spool, &[&vec![b'a'; crate::incoming::SPILL + 1]]).await;
        let content = Prefixed {
            prefix: b"",
            headers: b"",
            skip: 0,
            body: &large,
            durable: None,
        };
        assert!(in_memory(&content).is_none());
    }
}
