//! Relay-list micro-benchmarks (docs/reference.md §4: "a lookup against a list of a
//! million entries stays well under a microsecond"): first-match lookup at
//! 10, 10,000 and 1,000,000 random entries (single addresses, octet ranges,
//! CIDR blocks, IPv6, some exceptions), and the compile time of the
//! million-entry list.
//!
//! Run: `cargo bench -p portcullis-relay --bench relay_lookup`.
// criterion_main! writes an undocumented `pub fn main`.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use portcullis_relay::{RelayList, ReverseDns};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One random entry of the mix the brief asks for.
fn random_entry(rng: &mut StdRng) -> String {
    let a: u8 = rng.gen_range(1..=223);
    let (b, c, d): (u8, u8, u8) = (rng.gen(), rng.gen(), rng.gen());
    let body = match rng.gen_range(0..100) {
        0..=39 => format!("{a}.{b}.{c}.{d}"),
        40..=49 => {
            let lo: u8 = rng.gen_range(0..=250);
            format!("{a}.{b}.{lo}-{}.*", lo + rng.gen_range(0..=5))
        }
        50..=59 => {
            let lo: u8 = rng.gen_range(0..=200);
            format!("{a}.{b}.{c}.{lo}-{}", lo + rng.gen_range(0..=50))
        }
        60..=84 => {
            let len: u32 = rng.gen_range(16..=30);
            let net = u32::from_be_bytes([a, b, c, d]) & (u32::MAX << (32 - len));
            format!("{}/{len}", Ipv4Addr::from(net))
        }
        85..=92 => format!(
            "2001:db8:{:x}:{:x}::/64",
            rng.gen::<u16>(),
            rng.gen::<u16>()
        ),
        _ => format!("2001:db8:{:x}::{:x}", rng.gen::<u16>(), rng.gen::<u16>()),
    };
    if rng.gen_ratio(1, 10) {
        format!("!{body}")
    } else {
        body
    }
}

fn random_entries(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| random_entry(&mut rng)).collect()
}

/// Clients: half random IPv4, a quarter taken from single-address entries
/// (hits), a quarter IPv6 under 2001:db8::/32.
fn random_clients(entries: &[String], seed: u64) -> Vec<IpAddr> {
    let mut rng = StdRng::seed_from_u64(seed);
    let hosts: Vec<IpAddr> = entries
        .iter()
        .filter_map(|e| e.trim_start_matches('!').parse().ok())
        .collect();
    (0..4096)
        .map(|i| match i % 4 {
            0 | 1 => IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>())),
            2 if !hosts.is_empty() => hosts[rng.gen_range(0..hosts.len())],
            _ => IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                rng.gen(),
                rng.gen(),
                0,
                0,
                0,
                rng.gen(),
            )),
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay_lookup");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [10usize, 10_000, 1_000_000] {
        let entries = random_entries(n, 7);
        let (list, report) = RelayList::compile(&entries, &HashMap::new(), None);
        eprintln!(
            "{n} entries: {} added, {} skipped, {} intervals",
            report.added,
            report.skipped,
            list.interval_count()
        );
        let clients = random_clients(&entries, 11);
        let mut i = 0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &list, |b, list| {
            b.iter(|| {
                i = (i + 1) & 4095;
                list.lookup(black_box(clients[i]), &ReverseDns::NotChecked)
            })
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let entries = random_entries(1_000_000, 7);
    let empty = HashMap::new();
    let mut group = c.benchmark_group("relay_compile");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("1000000", |b| {
        b.iter(|| RelayList::compile(black_box(&entries), &empty, None))
    });
    group.finish();
}

criterion_group!(benches, lookup, compile);
criterion_main!(benches);
