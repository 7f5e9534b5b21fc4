//! DNS at the edge: resolving relay-list names at load and forward-confirmed
//! reverse DNS (FCrDNS) of clients. The answers are handed to the pure relay
//! policy as data, so a DNS failure can be told apart from "no such name".

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use portcullis_config::Dns as DnsConfig;
use portcullis_relay::range::canonical;
use portcullis_relay::{NameResolution, ReverseDns};

/// The most PTR names of one client we try to confirm; more is a lookup amplifier.
const MAX_PTR_NAMES: usize = 8;

/// A resolver with the configured nameservers and timeout.
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
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
        let (resolver, timeout) = build_resolver(cfg)?;
        Ok(Dns { resolver, timeout })
    }

    /// A mail authenticator (SPF, DKIM, DMARC) over this resolver.
    pub fn authenticator(&self) -> mail_auth::MessageAuthenticator {
        mail_auth::MessageAuthenticator(self.resolver.clone())
    }

    /// The longest one lookup may take (retries included).
    pub fn deadline(&self) -> Duration {
        self.timeout
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
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::PTR(ptr) => Some(ptr.0.to_ascii()),
                    _ => None,
                })
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
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

/// NXDOMAIN and NODATA are answers; everything else (SERVFAIL, REFUSED,
/// timeouts, I/O) is temporary and must never be read as "no".
fn classify<T>(e: &NetError) -> Outcome<T> {
    match answer_code(e) {
        Some(_) => Outcome::NotFound,
        None => Outcome::TempFail,
    }
}

/// The response code of a definite negative answer (NXDOMAIN, or NOERROR
/// with no records: NODATA); `None` for a temporary failure.
pub(crate) fn answer_code(e: &NetError) -> Option<ResponseCode> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            code @ (ResponseCode::NXDomain | ResponseCode::NoError) => Some(code),
            _ => None,
        },
        _ => None,
    }
}

/// The resolver configuration for `[dns]`: the configured nameservers over
/// UDP and TCP (the system's when none are set), the configured timeout, two
/// attempts, and no search domains (mail and relay names are absolute).
pub(crate) fn resolver_parts(cfg: &DnsConfig) -> std::io::Result<(ResolverConfig, ResolverOpts)> {
    let (conf, mut opts) = if cfg.nameservers.is_empty() {
        hickory_resolver::system_conf::read_system_conf().map_err(std::io::Error::other)?
    } else {
        let servers = cfg
            .nameservers
            .iter()
            .map(|ns| {
                let mut server = NameServerConfig::udp_and_tcp(ns.ip());
                for conn in &mut server.connections {
                    conn.port = ns.port();
                }
                server
            })
            .collect();
        let mut opts = ResolverOpts::default();
        // Configured nameservers are the whole truth (tests, split
        // horizon): /etc/hosts must not shadow them.
        opts.use_hosts_file = ResolveHosts::Never;
        (ResolverConfig::from_name_servers(servers), opts)
    };
    opts.timeout = Duration::from_millis(cfg.timeout_ms.max(1));
    opts.attempts = 2;
    opts.ndots = 0;
    Ok((conf, opts))
}

/// A resolver for `[dns]` and the overall deadline for one lookup through it
/// (the per-query timeout covers one try; retries and TCP fallback add up).
pub(crate) fn build_resolver(cfg: &DnsConfig) -> std::io::Result<(TokioResolver, Duration)> {
    let (conf, opts) = resolver_parts(cfg)?;
    let deadline = opts.timeout * 3;
    let resolver = TokioResolver::builder_with_config(conf, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(std::io::Error::other)?;
    Ok((resolver, deadline))
}
