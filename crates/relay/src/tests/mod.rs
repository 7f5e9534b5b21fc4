//! Specification tests of the relay policy: the seed's notations with their
//! exact coverage, every malformed kind with its message, first-match lists
//! with exceptions and names, the load report and its lints, the decision
//! order with replies and log rules, and property tests against a naive
//! first-match reference.

mod decide;
mod lints;
mod list;
mod notation;
mod props;

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;

/// Compiles raw entries with no DNS answers.
fn compile(entries: &[&str]) -> (RelayList, LoadReport) {
    compile_with(entries, &[])
}

/// Compiles raw entries with the given DNS answers.
fn compile_with(entries: &[&str], dns: &[(&str, NameResolution)]) -> (RelayList, LoadReport) {
    let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    let dns: HashMap<String, NameResolution> = dns
        .iter()
        .map(|(n, r)| (n.to_string(), r.clone()))
        .collect();
    RelayList::compile(&entries, &dns, None)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

/// The index of the entry deciding for `client` by address alone, with its polarity.
fn decides(list: &RelayList, client: &str) -> Option<(usize, bool)> {
    match list.lookup(ip(client), &ReverseDns::NotChecked) {
        ListMatch::Allow { index, .. } => Some((index, true)),
        ListMatch::Except { index, .. } => Some((index, false)),
        ListMatch::NoMatch => None,
        other => panic!("address-only lookup gave {other:?}"),
    }
}

fn verified(names: &[&str]) -> ReverseDns {
    ReverseDns::Verified(names.iter().map(|s| s.to_string()).collect())
}
