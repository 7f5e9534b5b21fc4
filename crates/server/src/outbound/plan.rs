//! How one message's due recipients are grouped: local ones, ones that fail
//! without a connection, and the rest per remote route. With
//! `delivery.lmtp`, final local mailboxes (recipients queued with their
//! `mailbox`) go to the LMTP server's route; other local recipients still go
//! to local delivery, which resolves them into final mailboxes.

use std::net::IpAddr;

use crate::runtime::Runtime;
use portcullis_config::Lmtp;
use portcullis_directory::recipient::is_local_domain;
use portcullis_queue::route::{route_for, LmtpHop};
use portcullis_queue::Failure;
use portcullis_queue::{domain_of, Attempt, Route};
use portcullis_smtp::address::Domain;
use portcullis_store::spool::Envelope;

/// How one message's due recipients are to be handled.
#[derive(Default)]
pub(super) struct Plan {
    /// Recipients in local domains.
    pub(super) local: Option<Vec<String>>,
    /// Recipients decided without a connection (bad route).
    pub(super) failed: Option<Vec<(String, Attempt)>>,
    /// Recipients per remote route.
    pub(super) remote: Vec<(Route, Vec<String>)>,
}

/// Groups the due pending recipients of `env` (all pending when `force`).
pub(super) fn plan(env: &Envelope, now: u64, force: bool, rt: &Runtime) -> Plan {
    let ctx = rt.recipients();
    let site = &rt.site.site;
    let mut plan = Plan::default();
    let lmtp = rt.config.delivery.lmtp.as_ref().map(lmtp_route);
    for r in env.pending().filter(|r| force || r.next_attempt <= now) {
        if r.mailbox.is_some() {
            match &lmtp {
                Some(Ok(route)) => plan.add_remote(route.clone(), r.address.clone()),
                Some(Err(f)) => plan
                    .failed
                    .get_or_insert_with(Vec::new)
                    .push((r.address.clone(), Attempt::Failed(f.clone()))),
                // `delivery.lmtp` was turned off since: into its Maildir.
                None => plan
                    .local
                    .get_or_insert_with(Vec::new)
                    .push(r.address.clone()),
            }
            continue;
        }
        let Some(domain) = domain_of(&r.address) else {
            plan.local
                .get_or_insert_with(Vec::new)
                .push(r.address.clone());
            continue;
        };
        let as_domain = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            Some(lit) => lit
                .strip_prefix("ipv6:")
                .unwrap_or(lit)
                .parse::<IpAddr>()
                .map(Domain::Literal)
                .unwrap_or_else(|_| Domain::Name(domain.clone())),
            None => Domain::Name(domain.clone()),
        };
        // Issue 5 §5: mail for a local domain is never sent out.
        if is_local_domain(&as_domain, &ctx) {
            plan.local
                .get_or_insert_with(Vec::new)
                .push(r.address.clone());
            continue;
        }
        match route_for(
            &domain,
            &site.routes,
            site.relay.smarthost.as_deref(),
            rt.config.queue.mx_port,
        ) {
            Ok(route) => plan.add_remote(route, r.address.clone()),
            Err(f) => plan
                .failed
                .get_or_insert_with(Vec::new)
                .push((r.address.clone(), Attempt::Failed(f))),
        }
    }
    plan
}

impl Plan {
    fn add_remote(&mut self, route: Route, address: String) {
        match self.remote.iter_mut().find(|(rt, _)| *rt == route) {
            Some((_, list)) => list.push(address),
            None => self.remote.push((route, vec![address])),
        }
    }
}

/// The route to the LMTP server of `delivery.lmtp`.
fn lmtp_route(lmtp: &Lmtp) -> Result<Route, Failure> {
    let hop = match lmtp {
        Lmtp::Tcp(hop) => portcullis_queue::Hop::parse(hop)
            .map(LmtpHop::Tcp)
            .map_err(|e| {
                Failure::local(
                    (4, 3, 5),
                    format!("bad delivery.lmtp in the configuration: {e}"),
                )
            })?,
        Lmtp::Unix(path) => LmtpHop::Unix(path.clone()),
    };
    Ok(Route::Lmtp(hop))
}
