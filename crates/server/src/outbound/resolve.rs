//! DNS for delivery: MX records and host addresses, with the configured
//! nameservers (`[dns]`), answers classified so that a temporary failure is
//! never read as "no such domain" (which would bounce mail for good).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::net::NetError;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use portcullis_config::Dns as DnsConfig;
use portcullis_queue::route::{mx_hosts, HopHost, LmtpHop};
use portcullis_queue::{Failure, MxAnswer, Route};

/// At most this many addresses are tried per delivery (Postfix's
/// smtp_mx_address_limit is 5; a little more for IPv4+IPv6 pairs).
const MAX_CANDIDATES: usize = 10;

/// One address to try, with the name it was found under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Candidate {
    /// The host name (MX exchange, route host) or the address as text.
    pub name: String,
    /// Where to connect.
    pub addr: SocketAddr,
}

impl Candidate {
    /// `name[ip]`, as logs and bounces name a host.
    pub(super) fn remote(&self) -> String {
        format!("{}[{}]", self.name, self.addr.ip())
    }
}

/// Addresses of a host name.
enum Addresses {
    Found(Vec<IpAddr>),
    None,
    TempFail(String),
}

/// The resolver.
#[derive(Clone)]
pub(super) struct Resolver {
    inner: TokioResolver,
    timeout: Duration,
}

impl Resolver {
    /// A resolver for `[dns]` (the system's when no nameservers are set).
    pub(super) fn new(cfg: &DnsConfig) -> std::io::Result<Resolver> {
        let (inner, timeout) = crate::dns::build_resolver(cfg)?;
        Ok(Resolver { inner, timeout })
    }

    /// The MX answer for `domain`.
    pub(super) async fn mx(&self, domain: &str) -> MxAnswer {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match tokio::time::timeout(self.timeout, self.inner.mx_lookup(fqdn)).await {
            Err(_) => MxAnswer::TempFail("timeout".into()),
            Ok(Ok(lookup)) => MxAnswer::Records(
                lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                        _ => None,
                    })
                    .map(|(p, name)| (p, if name == "." { String::new() } else { name }))
                    .collect(),
            ),
            Ok(Err(e)) => match classify(&e) {
                Some(ResponseCode::NXDomain) => MxAnswer::NoDomain,
                Some(_) => MxAnswer::NoRecords,
                None => MxAnswer::TempFail(e.to_string()),
            },
        }
    }

    async fn addresses(&self, name: &str) -> Addresses {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match tokio::time::timeout(self.timeout, self.inner.lookup_ip(fqdn)).await {
            Err(_) => Addresses::TempFail("timeout".into()),
            Ok(Ok(lookup)) => {
                let addrs: Vec<IpAddr> = lookup
                    .iter()
                    .map(portcullis_relay::range::canonical)
                    .collect();
                if addrs.is_empty() {
                    Addresses::None
                } else {
                    Addresses::Found(addrs)
                }
            }
            Ok(Err(e)) => match classify(&e) {
                Some(_) => Addresses::None,
                None => Addresses::TempFail(e.to_string()),
            },
        }
    }

    /// The addresses to try for `route`, best first. `own_names` are this
    /// server's names (an MX naming one of them is a loop, RFC 5321 §5.1).
    pub(super) async fn candidates(
        &self,
        route: &Route,
        own_names: &[String],
    ) -> Result<Vec<Candidate>, Failure> {
        let mut out = Vec::new();
        match route {
            Route::Literal(ip, port) => out.push(Candidate {
                name: ip.to_string(),
                addr: SocketAddr::new(*ip, *port),
            }),
            Route::Lmtp(LmtpHop::Unix(path)) => {
                return Err(Failure::local(
                    (4, 3, 0),
                    format!("LMTP socket {} has no network address", path.display()),
                ))
            }
            Route::Configured(hop) | Route::Smarthost(hop) | Route::Lmtp(LmtpHop::Tcp(hop)) => {
                match &hop.host {
                    HopHost::Ip(ip) => out.push(Candidate {
                        name: ip.to_string(),
                        addr: SocketAddr::new(*ip, hop.port),
                    }),
                    HopHost::Name(name) => match self.addresses(name).await {
                        Addresses::Found(ips) => out.extend(ips.into_iter().map(|ip| Candidate {
                            name: name.clone(),
                            addr: SocketAddr::new(ip, hop.port),
                        })),
                        Addresses::None => {
                            return Err(Failure::local(
                                (4, 4, 4),
                                format!("next hop {name} has no address in DNS"),
                            ))
                        }
                        Addresses::TempFail(why) => {
                            return Err(Failure::local(
                                (4, 4, 3),
                                format!("address lookup for {name} failed temporarily: {why}"),
                            ))
                        }
                    },
                }
            }
            Route::Mx { domain, port } => {
                let answer = self.mx(domain).await;
                let implicit = matches!(answer, MxAnswer::NoRecords);
                let hosts = mx_hosts(domain, answer, own_names, &mut rand::thread_rng())?;
                let mut temp_failed = None;
                for host in hosts {
                    match self.addresses(&host).await {
                        Addresses::Found(ips) => out.extend(ips.into_iter().map(|ip| Candidate {
                            name: host.clone(),
                            addr: SocketAddr::new(ip, *port),
                        })),
                        Addresses::None => {}
                        Addresses::TempFail(why) => temp_failed = Some(why),
                    }
                    if out.len() >= MAX_CANDIDATES {
                        break;
                    }
                }
                if out.is_empty() {
                    return Err(match temp_failed {
                        Some(why) => Failure::local(
                            (4, 4, 3),
                            format!("address lookup for the mail hosts of {domain} failed temporarily: {why}"),
                        ),
                        // RFC 5321 §5.1: no MX and no address: undeliverable.
                        None if implicit => Failure::local(
                            (5, 4, 4),
                            format!("domain {domain} has no MX and no address record"),
                        ),
                        None => Failure::local(
                            (4, 4, 4),
                            format!("no mail host of {domain} has an address"),
                        ),
                    });
                }
            }
        }
        out.truncate(MAX_CANDIDATES);
        Ok(out)
    }

    /// The TXT records of `name`, each one string (empty: none); Err on a
    /// temporary failure. Used by MTA-STS (RFC 8461 §3.1).
    pub(super) async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match tokio::time::timeout(self.timeout, self.inner.txt_lookup(fqdn)).await {
            Err(_) => Err("timeout".into()),
            Ok(Ok(lookup)) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Ok(Err(e)) => match classify(&e) {
                Some(_) => Ok(Vec::new()),
                None => Err(e.to_string()),
            },
        }
    }

    /// The addresses of `name` (for the MTA-STS policy host).
    pub(super) async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        match self.addresses(name).await {
            Addresses::Found(ips) => Ok(ips),
            Addresses::None => Err(format!("{name} has no address in DNS")),
            Addresses::TempFail(why) => Err(format!("address lookup for {name} failed: {why}")),
        }
    }
}

/// The response code of a "no records" answer (NXDOMAIN or NOERROR/NODATA);
/// None for anything temporary (SERVFAIL, REFUSED, timeouts, I/O).
fn classify(e: &NetError) -> Option<ResponseCode> {
    crate::dns::answer_code(e)
}
