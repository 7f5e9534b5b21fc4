//! The end of DATA: the content refused as a loop or by DMARC, or stored
//! durably (Maildirs and queue) against the rulings made at RCPT.

use std::net::IpAddr;

use portcullis_relay::ReverseDns;
use portcullis_smtp::session::Message;
use portcullis_smtp::Reply;
use tracing::{error, info, warn};

use super::driver::Driver;
use crate::incoming::Body;
use crate::runtime::Runtime;
use crate::stats::Stats;
use crate::store::{self, Job};
use crate::Shared;

impl Driver<'_> {
    /// Stores the message the session accepted, or refuses it, and tells
    /// the session which.
    pub(super) async fn store_message(&mut self, msg: Message) {
        let result = self.try_store(msg).await;
        self.session.message_stored(result);
    }

    async fn try_store(&mut self, msg: Message) -> Result<String, Reply> {
        let stats = &self.shared.stats;
        let body = self.incoming.take().await.map_err(|e| {
            warn!("message not stored: {e}");
            stats.messages_rejected.add("reason=\"local_error\"");
            local_error()
        })?;
        let max_hops = self.rt.config.limits.max_hops;
        // RFC 5321 §6.3: too many hops is a mail loop; refuse before anything is kept.
        if portcullis_queue::loops::too_many_hops(body.head(), max_hops) {
            info!(from = %msg.mail_from, "message refused: more than limits.max_hops ({max_hops}) Received headers: a mail loop");
            stats.messages_rejected.add("reason=\"loop\"");
            return Err(Reply::new(
                554,
                (5, 4, 6),
                "Too many hops: mail loop detected",
            ));
        }
        let trusted = trusted(&self.rt, &msg, self.ip, &self.rdns);
        let inbound = if !trusted && self.rt.config.inbound.checks {
            let found = check_inbound(self.shared, &self.rt, &msg, self.ip, &body).await;
            Some(found.inspect_err(|reply| {
                info!(from = %msg.mail_from, "message refused: {}", reply.lines.join(" "));
                stats.messages_rejected.add("reason=\"dmarc\"");
            })?)
        } else {
            None
        };
        let Some(plan) = self.rulings.plan(&msg) else {
            error!(from = %msg.mail_from, "message not stored: a recipient has no ruling from RCPT");
            stats.messages_rejected.add("reason=\"local_error\"");
            return Err(local_error());
        };
        let job = Job {
            config: self.rt.config.clone(),
            spool: self.shared.spool.clone(),
            plan,
            msg,
            body,
            client_ip: self.ip,
            client_name: self.client_name.clone(),
            dkim: trusted.then(|| self.rt.dkim.clone()),
            inbound,
        };
        let span = tracing::Span::current();
        let result =
            match tokio::task::spawn_blocking(move || span.in_scope(|| store::store(job))).await {
                Ok(r) => r,
                Err(e) => {
                    warn!("storage task failed: {e}");
                    Err(local_error())
                }
            };
        match result {
            Ok(stored) => {
                for queued in stored.queued {
                    self.shared.outbound.queued(queued.envelope, queued.message);
                }
                Stats::bump(&stats.messages_accepted);
                Ok(stored.id)
            }
            Err(reply) => {
                stats.messages_rejected.add("reason=\"local_error\"");
                Err(reply)
            }
        }
    }
}

/// `451 4.3.0`: the message could not be kept (full disk, I/O error).
fn local_error() -> Reply {
    Reply::new(451, (4, 3, 0), "Local error in processing, try again later")
}

/// SPF, DKIM and DMARC of a message from outside (docs/deliverability.md):
/// the `Authentication-Results:` header to add and the forged ones to drop,
/// or the refusal `inbound.dmarc_reject` asks for.
async fn check_inbound(
    shared: &Shared,
    rt: &Runtime,
    msg: &Message,
    ip: IpAddr,
    body: &Body,
) -> Result<store::InboundResult, Reply> {
    // Memory stays bounded: the whole message is held only with a turn.
    let turn = if body.len() > crate::inbound::MAX_VERIFIED {
        Err("message too large to verify")
    } else {
        tokio::time::timeout(rt.dns.deadline(), shared.verifying.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or("too many messages being verified at once")
    };
    let verified = turn.is_ok();
    let mut message = Vec::new();
    if verified {
        message.reserve(usize::try_from(body.len()).unwrap_or(0));
        if let Err(e) = body.feed(&mut |chunk| message.extend_from_slice(chunk)) {
            warn!("inbound checks skipped: cannot read the message: {e}");
            return Ok(store::InboundResult::default());
        }
    }
    let mail_from = msg.mail_from.to_string();
    let input = crate::inbound::Inputs {
        hostname: &rt.config.hostname,
        client: ip,
        helo: &msg.helo,
        mail_from: &mail_from,
        message: turn
            .as_ref()
            .map(|_| message.as_slice())
            .map_err(|why| *why),
        dmarc_reject: rt.config.inbound.dmarc_reject,
    };
    let verdict = crate::inbound::check(&rt.dns.authenticator(), &input, rt.dns.deadline()).await;
    if let Some(reply) = verdict.refuse {
        return Err(reply);
    }
    Ok(store::InboundResult {
        header: verdict.header,
        strip: crate::inbound::strip_forged(body.head(), &rt.config.hostname),
    })
}

/// A sender whose mail is ours to vouch for: an authenticated session or
/// a client `relay.allow` admits (docs/deliverability.md). Its mail is
/// DKIM-signed and not checked as mail from outside.
pub(super) fn trusted(rt: &Runtime, msg: &Message, ip: IpAddr, rdns: &ReverseDns) -> bool {
    msg.auth_user.is_some()
        || matches!(
            rt.site.policy.list.lookup(ip, rdns),
            portcullis_relay::ListMatch::Allow { .. }
        )
}
