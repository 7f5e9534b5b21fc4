//! The driver's answers to the session's questions about recipients and
//! logins: the ruling on one RCPT (kept for DATA) and the credentials an
//! AUTH exchange needs.

use std::net::IpAddr;
use std::time::SystemTime;

use portcullis_directory::recipient::{self, Decision};
use portcullis_relay::ReverseDns;
use portcullis_smtp::session::{AuthAnswer, AuthRequest, RecipientCheck};
use portcullis_smtp::Reply;
use tracing::info;

use crate::limits;
use crate::rulings::{self, Rulings};
use crate::runtime::Runtime;
use crate::staleness;
use crate::stats::Stats;
use crate::Shared;

/// Rules on one recipient with this session's runtime, logging the deciding rule.
/// Where an accepted recipient goes is kept in `rulings` for its transaction.
pub(super) fn rule_on(
    shared: &Shared,
    rt: &Runtime,
    check: &RecipientCheck,
    (ip, rdns): (IpAddr, &ReverseDns),
    rulings: &mut Rulings,
) -> Result<(), Reply> {
    let ctx = rt.recipients();
    let decision = recipient::decide(&ctx, &check.mailbox, ip, rdns, check.auth_user.as_deref());
    if let Some(destinations) = rulings::destinations(&ctx, &check.mailbox, &decision) {
        rulings.record(check, destinations);
    }
    let rule = decision.rule();
    if let Decision::Remote(d) = &decision {
        // The rule's kind (`allow`, `auth`, `except`, `denied`…), not the
        // entry: one series per kind keeps the label set small.
        shared.stats.relay_decisions.add(&format!(
            "result=\"{}\",rule=\"{}\"",
            d.result(),
            d.rule_kind()
        ));
    }
    if let Decision::Remote(d) = &decision {
        let outcome = match d.reply() {
            None if shared.freshness(SystemTime::now()).is_stale() => "tempfail",
            None => "granted",
            Some(r) if r.code < 500 => "tempfail",
            Some(_) => "denied",
        };
        shared.decisions.record(
            ip.to_string(),
            check.mailbox.to_string(),
            outcome,
            rule.clone(),
        );
    }
    match &decision {
        // Fail closed: a grant from a policy the directory has not
        // confirmed for too long may be one it has since taken back.
        Decision::Remote(d)
            if d.reply().is_none() && shared.freshness(SystemTime::now()).is_stale() =>
        {
            Stats::bump(&shared.stats.relay_denials);
            info!(from = %check.mail_from, rcpt = %check.mailbox, relay = %rule, "relay not granted: the directory is stale");
            return Err(staleness::relay_unconfirmed());
        }
        Decision::Remote(d) if d.reply().is_none() => {
            Stats::bump(&shared.stats.relay_grants);
            info!(from = %check.mail_from, rcpt = %check.mailbox, relay = %rule, "relay granted");
        }
        Decision::Remote(_) => {
            Stats::bump(&shared.stats.relay_denials);
            info!(from = %check.mail_from, rcpt = %check.mailbox, relay = %rule, "relay denied");
        }
        _ => {
            info!(from = %check.mail_from, rcpt = %check.mailbox, rule = %rule, accepted = decision.accepted(), "recipient")
        }
    }
    match decision.reply() {
        None => Ok(()),
        Some(reply) => Err(reply),
    }
}

/// Looks up what the session needs to check a login. Argon2 runs through
/// the password gate (a bounded number at a time; `454 4.7.0` when it is
/// full); an unknown user costs the same hash as a wrong password, so
/// timing does not reveal which names exist.
pub(super) async fn authenticate(shared: &Shared, request: AuthRequest) -> AuthAnswer {
    if shared.freshness(SystemTime::now()).is_stale() {
        // Fail closed: the user may have been removed or their password
        // changed in a directory this node cannot reach.
        info!("AUTH not checked: the directory is stale; 454");
        return AuthAnswer::Unavailable;
    }
    let rt = shared.current.get();
    match request {
        AuthRequest::Password { user, password, .. } => {
            let verified = crate::password_gate::verify(shared, &rt, user, password).await;
            match verified {
                Ok(v) => AuthAnswer::Verified(v),
                Err(busy) => {
                    info!(reason = ?busy, "password check not run: too many at once; 454");
                    limits::count(&shared.stats, "password_checks_waiting");
                    AuthAnswer::Unavailable
                }
            }
        }
        AuthRequest::CramMd5 { user, challenge } => AuthAnswer::CramMd5Digest(
            rt.site
                .site
                .users
                .get(&user)
                .map(|c| c.cram_md5_digest(&challenge)),
        ),
        AuthRequest::ScramKeys { user } => AuthAnswer::ScramKeys(
            rt.site
                .site
                .users
                .get(&user)
                .map(|c| c.scram_keys().clone()),
        ),
    }
}
