//! DNS at the edge: resolving relay-list names at load and forward-confirmed
//! reverse DNS (FCrDNS) of clients. The answers are handed to the pure relay
//! policy as data, so a DNS failure can be told apart from "no such name".

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;
use portcullis_core::config::Dns as DnsConfig;
use portcullis_core::relay::{NameResolution, ReverseDns};

/// The most PTR names of one client we try to confirm; more is a lookup amplifier.
const MAX_PTR_NAMES: usize = 8;

/// A resolver with the configured nameservers and timeout.
#[derive(Clone)]
pub struct Dns {
    resolver: TokioAsyncResolver,
    timeout: Duration,
}

/// A lookup outcome: the answer, "no such name / no data", or a temporary failure.
enum Outcome<T> {
    Found(T),
    NotFound,
    TempFail,
}

impl Dns {
    pub fn new(cfg: &DnsConfig) -> std::io::Result<Dns> {
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        // Relay names are absolute: never try search domains.
        opts.ndots = 0;
        let resolver = if cfg.nameservers.is_empty() {
            let (conf, mut sys_opts) = hickory_resolver::system_conf::read_system_conf()?;
            sys_opts.timeout = timeout;
            sys_opts.attempts = 2;
            sys_opts.ndots = 0;
            TokioAsyncResolver::tokio(conf, sys_opts)
        } else {
            let mut conf = ResolverConfig::new();
            for ns in &cfg.nameservers {
                conf.add_name_server(NameServerConfig::new(*ns, Protocol::Udp));
                conf.add_name_server(NameServerConfig::new(*ns, Protocol::Tcp));
            }
            // Tests and split-horizon setups name their own servers: /etc/hosts would shadow them.
            opts.use_hosts_file = false;
            TokioAsyncResolver::tokio(conf, opts)
        };
        Ok(Dns {
            resolver,
            timeout: timeout * 3,
        })
    }

    /// A and AAAA addresses of `name`, for a relay-list entry.
    pub async fn resolve_name(&self, name: &str) -> NameResolution {
        match self.addresses(name).await {
            Outcome::Found(addrs) if !addrs.is_empty() => NameResolution::Addresses(addrs),
            Outcome::Found(_) | Outcome::NotFound => NameResolution::NoAddress,
            Outcome::TempFail => NameResolution::TempFail,
        }
    }

    /// The client's forward-confirmed reverse-DNS names: PTR names whose A/AAAA
    /// records include the client's address. A name that does not confirm is
    /// ignored: anyone can publish any PTR for their own addresses.
    pub async fn verified_names(&self, ip: IpAddr) -> ReverseDns {
        let ptrs = match tokio::time::timeout(self.timeout, self.resolver.reverse_lookup(ip)).await
        {
            Err(_) => return ReverseDns::TempFail,
            Ok(Err(e)) => match classify::<()>(&e) {
                Outcome::NotFound => return ReverseDns::NoName,
                _ => return ReverseDns::TempFail,
            },
            Ok(Ok(lookup)) => lookup
                .iter()
                .map(|n| n.to_ascii().trim_end_matches('.').to_ascii_lowercase())
                .take(MAX_PTR_NAMES)
                .collect::<Vec<_>>(),
        };
        let mut verified = Vec::new();
        let mut temp_failed = false;
        for name in ptrs {
            match self.addresses(&name).await {
                Outcome::Found(addrs) if addrs.contains(&ip) => verified.push(name),
                Outcome::TempFail => temp_failed = true,
                _ => {}
            }
        }
        if !verified.is_empty() {
            ReverseDns::Verified(verified)
        } else if temp_failed {
            ReverseDns::TempFail
        } else {
            ReverseDns::NoName
        }
    }

    async fn addresses(&self, name: &str) -> Outcome<Vec<IpAddr>> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match tokio::time::timeout(self.timeout, self.resolver.lookup_ip(fqdn)).await {
            Err(_) => Outcome::TempFail,
            Ok(Ok(lookup)) => Outcome::Found(lookup.iter().map(canonical).collect()),
            Ok(Err(e)) => match classify(&e) {
                Outcome::NotFound => Outcome::Found(Vec::new()),
                other => other,
            },
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// NXDOMAIN and NODATA are answers; everything else (SERVFAIL, REFUSED,
/// timeouts, I/O) is temporary and must never be read as "no".
fn classify<T>(e: &ResolveError) -> Outcome<T> {
    match e.kind() {
        ResolveErrorKind::NoRecordsFound { response_code, .. }
            if matches!(
                *response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            Outcome::NotFound
        }
        _ => Outcome::TempFail,
    }
}
