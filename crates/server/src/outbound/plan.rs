//! How one message's due recipients are grouped: local ones, ones that fail
//! without a connection, and the rest per remote route.

use std::net::IpAddr;

use crate::runtime::Runtime;
use portcullis_directory::recipient::is_local_domain;
use portcullis_queue::route::route_for;
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
    for r in env.pending().filter(|r| force || r.next_attempt <= now) {
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
            Ok(route) => match plan.remote.iter_mut().find(|(rt, _)| *rt == route) {
                Some((_, list)) => list.push(r.address.clone()),
                None => plan.remote.push((route, vec![r.address.clone()])),
            },
            Err(f) => plan
                .failed
                .get_or_insert_with(Vec::new)
                .push((r.address.clone(), Attempt::Failed(f))),
        }
    }
    plan
}
