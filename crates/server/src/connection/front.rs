//! The trace headers of a large message, worked out when its content
//! outgrows memory, so that its scratch file starts with them and later
//! becomes its Maildir file as it is, instead of being copied (the
//! [`Front`] of `incoming.rs`, used by `store.rs`).
//!
//! Only where they are known before the message ends: every copy goes to a
//! Maildir (no queue, no LMTP), and no inbound checks will add an
//! `Authentication-Results:` field or drop forged ones. Storing compares
//! them with the headers it works out at the end and copies the content if
//! they differ in any octet, so a guess here can cost a copy, never a
//! wrong message.

use std::net::IpAddr;
use std::time::SystemTime;

use portcullis_relay::ReverseDns;
use portcullis_smtp::session::Session;
use portcullis_store::spool::Spool;

use super::storing::trusted;
use crate::headers::ClientInfo;
use crate::incoming::Front;
use crate::rulings::Rulings;
use crate::runtime::Runtime;
use crate::store::{maildir_prefix, trace};

/// What the session knows of the message while its content arrives.
pub(super) struct Known<'a> {
    pub(super) session: &'a Session,
    pub(super) rulings: &'a Rulings,
    pub(super) rt: &'a Runtime,
    pub(super) ip: IpAddr,
    pub(super) rdns: &'a ReverseDns,
    pub(super) client_name: Option<&'a str>,
}

/// The [`Front`] of the message being received, given the first octets of
/// its content; `None` where its headers are not known yet.
pub(super) fn front(known: &Known<'_>, head: &[u8]) -> Option<Front> {
    let msg = known.session.receiving()?;
    let config = &known.rt.config;
    if config.delivery.lmtp.is_some()
        || (config.inbound.checks && !trusted(known.rt, &msg, known.ip, known.rdns))
    {
        return None;
    }
    let plan = known.rulings.peek(&msg)?;
    if plan.mailboxes.is_empty() || !plan.remote.is_empty() {
        return None;
    }
    let id = Spool::new_id();
    let at = SystemTime::now();
    let client = ClientInfo {
        ip: known.ip,
        name: known.client_name,
    };
    // Past its first SPILL octets, so never the whole message.
    let trace = trace(&msg, &client, &config.hostname, (&id, at), (head, false));
    let prefix = maildir_prefix(&msg, &trace, "").into_bytes();
    Some(Front { id, at, prefix })
}
