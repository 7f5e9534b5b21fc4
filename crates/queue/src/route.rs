//! Where a remote domain's mail goes (issue 5 §2), in order: an entry of
//! `[routes]` (like Postfix's transport map), else `relay.smarthost`, else
//! DNS: MX records in preference order with equal preferences shuffled
//! (RFC 5321 §5.1), the domain itself when it has no MX (implicit MX), and
//! an immediate bounce for a null MX (RFC 7505). The DNS answers come in as
//! data ([`MxAnswer`]); the server does the lookups.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rand::seq::SliceRandom;
use rand::Rng;

use super::failure::Failure;

/// A host to connect to: a name (resolved to A/AAAA, never MX) or an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HopHost {
    /// A DNS name, lower-case, no trailing dot.
    Name(String),
    /// An IP address.
    Ip(IpAddr),
}

impl std::fmt::Display for HopHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HopHost::Name(n) => f.write_str(n),
            HopHost::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A configured next hop: `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hop {
    /// The host.
    pub host: HopHost,
    /// The TCP port.
    pub port: u16,
}

impl Hop {
    /// Reads the normalised `host:port` the configuration stores
    /// (`mx.example.org:25`, `192.0.2.5:25`, `[2001:db8::1]:25`).
    pub fn parse(s: &str) -> Result<Hop, String> {
        if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
            return Ok(Hop {
                host: HopHost::Ip(addr.ip()),
                port: addr.port(),
            });
        }
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("next hop \"{s}\" has no port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("next hop \"{s}\" has a bad port"))?;
        if host.is_empty() {
            return Err(format!("next hop \"{s}\" has no host"));
        }
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => HopHost::Ip(ip),
            Err(_) => HopHost::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        };
        Ok(Hop { host, port })
    }
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            HopHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

/// How one recipient domain is reached.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// A `[routes]` entry: exactly this hop, no MX lookup.
    Configured(Hop),
    /// `relay.smarthost`: all mail through this hop (certificate checked,
    /// AUTH when configured).
    Smarthost(Hop),
    /// The domain's MX records (or the domain itself: implicit MX), on the
    /// given port (`queue.mx_port`, 25 outside tests).
    Mx {
        /// The recipient domain, lower-case.
        domain: String,
        /// The port to connect to on every MX host.
        port: u16,
    },
    /// An address-literal domain (`user@[192.0.2.5]`): that address.
    Literal(IpAddr, u16),
    /// `delivery.lmtp`: final local mailboxes, to the mail store's LMTP
    /// server (RFC 2033).
    Lmtp(LmtpHop),
}

/// Where the LMTP server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LmtpHop {
    /// A TCP `host:port`.
    Tcp(Hop),
    /// A Unix socket.
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for LmtpHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LmtpHop::Tcp(hop) => write!(f, "{hop}"),
            LmtpHop::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Route {
    /// The key that groups deliveries onto connections and counts them
    /// against `limits.outbound_per_destination`.
    pub fn destination(&self) -> String {
        match self {
            Route::Configured(hop) => format!("route:{hop}"),
            Route::Smarthost(hop) => format!("smarthost:{hop}"),
            Route::Mx { domain, port } => format!("mx:{domain}:{port}"),
            Route::Literal(ip, port) => format!("literal:{ip}:{port}"),
            Route::Lmtp(hop) => format!("lmtp:{hop}"),
        }
    }
}

/// The domain of `local@domain` (after the last `@`), lower-case; None for
/// an address without one.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.trim_end_matches('.').to_ascii_lowercase())
}

/// The route for `domain`: `routes` (keys lower-case, values `host:port`)
/// first, then the smarthost, then MX. An address literal goes to its
/// address unless a route or smarthost says otherwise.
pub fn route_for(
    domain: &str,
    routes: &BTreeMap<String, String>,
    smarthost: Option<&str>,
    mx_port: u16,
) -> Result<Route, Failure> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let bad_hop =
        |e: String| Failure::local((4, 3, 5), format!("bad next hop in the configuration: {e}"));
    if let Some(hop) = routes.get(&domain) {
        return Hop::parse(hop).map(Route::Configured).map_err(bad_hop);
    }
    if let Some(hop) = smarthost {
        return Hop::parse(hop).map(Route::Smarthost).map_err(bad_hop);
    }
    if let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let text = inner.strip_prefix("ipv6:").unwrap_or(inner);
        return text
            .parse::<IpAddr>()
            .map(|ip| Route::Literal(ip, mx_port))
            .map_err(|_| Failure::local((5, 1, 2), format!("bad address literal {domain}")));
    }
    Ok(Route::Mx {
        domain,
        port: mx_port,
    })
}

/// The answer to an MX query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MxAnswer {
    /// MX records: (preference, exchange). An exchange of `""` or `"."` is
    /// the root: a null MX.
    Records(Vec<(u16, String)>),
    /// The name exists but has no MX (NODATA).
    NoRecords,
    /// The name does not exist (NXDOMAIN).
    NoDomain,
    /// SERVFAIL, timeout, network error: try again later.
    TempFail(String),
}

/// The hosts to try for `domain`, best first, from the MX answer.
///
/// - RFC 5321 §5.1: lower preference first; equal preferences in random
///   order (spreading load, as the RFC asks); duplicates once.
/// - RFC 5321 §5.1: no MX → the domain itself (implicit MX).
/// - RFC 7505 §3: a null MX (exchange `.`) means the domain accepts no
///   mail: bounce at once with 5.1.10 (§4.2), never retry.
/// - RFC 5321 §5.1: if one of `own_names` (this server) is an MX, it and
///   every host of equal or worse preference are dropped, so mail never
///   loops back here; none left → permanent 5.4.6.
pub fn mx_hosts(
    domain: &str,
    answer: MxAnswer,
    own_names: &[String],
    rng: &mut impl Rng,
) -> Result<Vec<String>, Failure> {
    let mut records = match answer {
        MxAnswer::Records(r) => r,
        MxAnswer::NoRecords => return Ok(vec![domain.to_string()]),
        MxAnswer::NoDomain => {
            return Err(Failure::local(
                (5, 1, 2),
                format!("domain {domain} does not exist (DNS: no such domain)"),
            ))
        }
        MxAnswer::TempFail(why) => {
            return Err(Failure::local(
                (4, 4, 3),
                format!("MX lookup for {domain} failed temporarily: {why}"),
            ))
        }
    };
    for (_, host) in &mut records {
        *host = host.trim_end_matches('.').to_ascii_lowercase();
    }
    let (null, mut records): (Vec<_>, Vec<_>) =
        records.into_iter().partition(|(_, h)| h.is_empty());
    if records.is_empty() {
        if !null.is_empty() {
            return Err(Failure::local(
                (5, 1, 10),
                format!("domain {domain} accepts no mail (null MX, RFC 7505)"),
            ));
        }
        // An empty record set is NODATA in disguise.
        return Ok(vec![domain.to_string()]);
    }
    // A null MX next to real ones breaks RFC 7505 §3; the real ones are used.
    records.sort_by_key(|(pref, _)| *pref);
    let mut ordered: Vec<(u16, String)> = Vec::with_capacity(records.len());
    for group in records.chunk_by(|a, b| a.0 == b.0) {
        let mut group = group.to_vec();
        group.shuffle(rng);
        ordered.extend(group);
    }
    if let Some(own_pref) = ordered
        .iter()
        .find(|(_, h)| own_names.iter().any(|n| n.eq_ignore_ascii_case(h)))
        .map(|(p, _)| *p)
    {
        ordered.retain(|(p, _)| *p < own_pref);
        if ordered.is_empty() {
            return Err(Failure::local(
                (5, 4, 6),
                format!("mail for {domain} loops back to myself (this server is its best MX)"),
            ));
        }
    }
    let mut hosts: Vec<String> = Vec::with_capacity(ordered.len());
    for (_, h) in ordered {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn records(list: &[(u16, &str)]) -> MxAnswer {
        MxAnswer::Records(list.iter().map(|(p, h)| (*p, h.to_string())).collect())
    }

    #[test]
    fn routes_then_smarthost_then_mx() {
        let mut routes = BTreeMap::new();
        routes.insert("remote.test".to_string(), "127.0.0.1:2526".to_string());
        assert_eq!(
            route_for("Remote.Test", &routes, Some("relay.isp.test:587"), 25).unwrap(),
            Route::Configured(Hop::parse("127.0.0.1:2526").unwrap())
        );
        let smart = route_for("other.test", &routes, Some("relay.isp.test:587"), 25).unwrap();
        assert_eq!(smart.destination(), "smarthost:relay.isp.test:587");
        assert_eq!(
            route_for("other.test", &routes, None, 2525).unwrap(),
            Route::Mx {
                domain: "other.test".into(),
                port: 2525
            }
        );
    }

    #[test]
    fn routes_match_the_domain_only_not_its_subdomains() {
        let mut routes = BTreeMap::new();
        routes.insert("remote.test".to_string(), "127.0.0.1:2526".to_string());
        assert!(matches!(
            route_for("sub.remote.test", &routes, None, 25).unwrap(),
            Route::Mx { .. }
        ));
    }

    #[test]
    fn address_literals_go_to_their_address() {
        let none = BTreeMap::new();
        assert_eq!(
            route_for("[192.0.2.5]", &none, None, 25).unwrap(),
            Route::Literal("192.0.2.5".parse().unwrap(), 25)
        );
        assert_eq!(
            route_for("[IPv6:2001:db8::1]", &none, None, 25).unwrap(),
            Route::Literal("2001:db8::1".parse().unwrap(), 25)
        );
        assert!(route_for("[nonsense]", &none, None, 25)
            .unwrap_err()
            .is_permanent());
    }

    #[test]
    fn hops_parse_in_every_stored_form() {
        let h = Hop::parse("mx.example.org:25").unwrap();
        assert_eq!(h.host, HopHost::Name("mx.example.org".into()));
        assert_eq!(
            Hop::parse("[2001:db8::1]:26").unwrap().to_string(),
            "[2001:db8::1]:26"
        );
        assert_eq!(
            Hop::parse("192.0.2.5:25").unwrap().to_string(),
            "192.0.2.5:25"
        );
        assert!(Hop::parse("nohost").is_err());
        assert!(Hop::parse("h:0").is_err());
    }

    #[test]
    fn mx_hosts_in_preference_order() {
        let hosts = mx_hosts(
            "d.test",
            records(&[(20, "b.d.test."), (10, "A.d.test"), (30, "c.d.test")]),
            &[],
            &mut rng(),
        )
        .unwrap();
        assert_eq!(hosts, ["a.d.test", "b.d.test", "c.d.test"]);
    }

    #[test]
    fn equal_preferences_are_shuffled_but_stay_in_their_rank() {
        let answer = records(&[(10, "a1"), (10, "a2"), (10, "a3"), (20, "z")]);
        let mut seen_first = std::collections::BTreeSet::new();
        let mut rng = rng();
        for _ in 0..200 {
            let hosts = mx_hosts("d", answer.clone(), &[], &mut rng).unwrap();
            assert_eq!(hosts.len(), 4);
            assert_eq!(hosts[3], "z");
            seen_first.insert(hosts[0].clone());
        }
        assert_eq!(
            seen_first.len(),
            3,
            "every equal host comes first sometimes"
        );
    }

    #[test]
    fn no_mx_means_the_domain_itself() {
        assert_eq!(
            mx_hosts("d.test", MxAnswer::NoRecords, &[], &mut rng()).unwrap(),
            ["d.test"]
        );
    }

    #[test]
    fn a_null_mx_bounces_at_once() {
        let e = mx_hosts("null.test", records(&[(0, ".")]), &[], &mut rng()).unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(e.status.to_string(), "5.1.10");
        assert!(e.detail.contains("null MX"), "{e}");
        // Next to a real MX (against RFC 7505 §3) the real one is used.
        assert_eq!(
            mx_hosts("d", records(&[(0, "."), (10, "mx.d")]), &[], &mut rng()).unwrap(),
            ["mx.d"]
        );
    }

    #[test]
    fn dns_failures_are_temporary_and_nxdomain_permanent() {
        let e = mx_hosts("d", MxAnswer::TempFail("SERVFAIL".into()), &[], &mut rng()).unwrap_err();
        assert!(!e.is_permanent());
        assert_eq!(e.status.to_string(), "4.4.3");
        let e = mx_hosts("nx.test", MxAnswer::NoDomain, &[], &mut rng()).unwrap_err();
        assert!(e.is_permanent());
    }

    #[test]
    fn this_server_and_worse_mx_hosts_are_dropped() {
        let own = vec!["mx.test".to_string()];
        let answer = records(&[
            (10, "primary.d"),
            (20, "MX.test"),
            (20, "peer.d"),
            (30, "backup.d"),
        ]);
        assert_eq!(
            mx_hosts("d", answer, &own, &mut rng()).unwrap(),
            ["primary.d"]
        );
        let e = mx_hosts(
            "d",
            records(&[(10, "mx.test"), (20, "b.d")]),
            &own,
            &mut rng(),
        )
        .unwrap_err();
        assert_eq!(e.status.to_string(), "5.4.6");
    }

    #[test]
    fn domains_of_addresses() {
        assert_eq!(domain_of("Bob@Remote.Test").as_deref(), Some("remote.test"));
        assert_eq!(domain_of("\"a@b\"@c.test").as_deref(), Some("c.test"));
        assert_eq!(domain_of("postmaster"), None);
    }
}
