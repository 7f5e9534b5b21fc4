//! Queued mail for a local domain: delivered into Maildirs here, never sent
//! out (issue 5 §5). This is how a DSN reaches a local sender, and what
//! happens to a queued recipient whose domain became local by a reload.
//!
//! With `delivery.lmtp` the recipient is resolved here all the same, but
//! its final mailboxes are queued again as a new message for the LMTP
//! server (as an alias's remote targets are), so that they take the same
//! crash-safe path as mail accepted over SMTP. A recipient queued as a
//! final mailbox reaches here only when `delivery.lmtp` was turned off
//! since: it goes into that user's Maildir, without the aliases.

use std::sync::Arc;

use portcullis_directory::aliases::{resolve_in_domain, route, LocalResolution};
use portcullis_directory::recipient::domain_name;
use portcullis_queue::{Attempt, Failure};
use portcullis_smtp::address::parse_forward_path;
use portcullis_store::maildir::{self, Maildir};
use portcullis_store::spool::{Envelope, MessageFile, RecipientState, Spool};
use tracing::{error, info};

use crate::rulings::lmtp_address;
use crate::Shared;

/// Delivers `recipients` of message `id` locally (blocking). Unknown users
/// fail permanently (5.1.1); a full disk or other local error is temporary.
pub(super) fn deliver(
    shared: &Arc<Shared>,
    env: &Envelope,
    recipients: &[String],
) -> Vec<(String, Attempt)> {
    // Streamed from the queue file, never read whole: a large message costs
    // no more memory than a small one.
    let opened = shared.spool.open_message(&env.id);
    let message = match opened {
        Ok(m) => m,
        Err(e) => {
            let f = Failure::local((4, 3, 0), format!("cannot read the queued message: {e}"));
            return recipients
                .iter()
                .map(|r| (r.clone(), Attempt::Failed(f.clone())))
                .collect();
        }
    };
    let rt = shared.current.get();
    let config = &rt.config;
    // RFC 5321 §4.4: the sender goes into Return-Path at final delivery.
    let return_path = format!(
        "Return-Path: <{}>\r\n",
        env.sender.replace(['\r', '\n'], "")
    );

    let mut results = Vec::with_capacity(recipients.len());
    let maildir = |user: &str| {
        maildir::maildir_path(config.delivery.maildir.as_deref(), &config.data_dir, user)
    };
    for rcpt in recipients {
        let resolved = env
            .recipients
            .iter()
            .find(|r| r.address == *rcpt && r.state == RecipientState::Pending)
            .and_then(|r| r.mailbox.clone());
        if let Some(user) = resolved {
            let targets = Targets {
                dirs: vec![maildir(&user)],
                ..Targets::default()
            };
            let attempt = deliver_targets(shared, env, &message, return_path.as_bytes(), targets);
            results.push((rcpt.clone(), attempt));
            continue;
        }
        let mailbox = parse_forward_path(&format!("<{rcpt}>"), true);
        let local_part = match &mailbox {
            Ok(mb) => mb.local_unquoted(),
            // A bare `postmaster` (RFC 5321 §4.5.1) has no domain.
            Err(_) => rcpt.clone(),
        };
        let in_domain = mailbox.as_ref().map_or("", |mb| domain_name(&mb.domain));
        let site = &rt.site.site;
        let attempt = match resolve_in_domain(&local_part, in_domain, &site.aliases, &site.users) {
            LocalResolution::Unknown => Attempt::Failed(Failure::local(
                (5, 1, 1),
                format!("no such local user: {local_part}"),
            )),
            LocalResolution::Deliver(targets) => {
                let domain = match &mailbox {
                    Ok(mb) => mb.domain.to_string(),
                    Err(_) => config.hostname.clone(),
                };
                let routes = route(targets, &domain);
                let mut targets = Targets {
                    queued: routes.queued.into_iter().map(|a| (a, None)).collect(),
                    ..Targets::default()
                };
                for user in routes.mailboxes {
                    if config.delivery.lmtp.is_some() {
                        let address = lmtp_address(&user, &domain, &config.hostname);
                        targets.queued.push((address, Some(user)));
                    } else {
                        targets.dirs.push(maildir(&user));
                    }
                }
                deliver_targets(shared, env, &message, return_path.as_bytes(), targets)
            }
        };
        if matches!(attempt, Attempt::Delivered) {
            info!(queue_id = %env.id, to = %rcpt, "delivered to the local mailbox");
        }
        results.push((rcpt.clone(), attempt));
    }
    results
}

/// Where one recipient's copies go.
#[derive(Default)]
struct Targets {
    /// Maildirs written here.
    dirs: Vec<maildir::MaildirPath>,
    /// Addresses queued again in a new message: an alias's remote targets
    /// (no mailbox), and final mailboxes for the LMTP server (with the user).
    queued: Vec<(String, Option<String>)>,
}

fn deliver_targets(
    shared: &Arc<Shared>,
    env: &Envelope,
    message: &MessageFile,
    return_path: &[u8],
    targets: Targets,
) -> Attempt {
    let Targets { dirs, queued } = targets;
    let local = message.copy(return_path);
    for r in Maildir::deliver_copies(&dirs, &local) {
        if let Err(e) = r {
            error!(queue_id = %env.id, "local delivery failed: {e}");
            return Attempt::Failed(Failure::local(
                (4, 3, 0),
                format!("local delivery failed: {e}"),
            ));
        }
    }
    if !queued.is_empty() {
        // A new queued message to the targets.
        let id = Spool::new_id();
        let mut forward = Envelope::new(
            id.clone(),
            env.sender.clone(),
            queued.iter().map(|(address, _)| address.clone()),
            String::new(),
            None,
            None,
        );
        for (r, (_, user)) in forward.recipients.iter_mut().zip(queued) {
            r.mailbox = user;
        }
        forward.body = env.body;
        forward.smtputf8 = env.smtputf8;
        let queued = message.copy(b"");
        if let Err(e) = shared.spool.store_content(&forward, &queued) {
            return Attempt::Failed(Failure::local(
                (4, 3, 0),
                format!("cannot queue the alias targets: {e}"),
            ));
        }
        shared.outbound.kick(&id);
    }
    Attempt::Delivered
}
