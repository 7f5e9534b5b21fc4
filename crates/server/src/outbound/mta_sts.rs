//! MTA-STS for MX delivery (RFC 8461): the destination's `_mta-sts` TXT
//! record, its policy fetched over HTTPS with certificate checks, kept in
//! memory for its `max_age`, and what the policy means for the MX hosts
//! tried. `enforce` keeps only the hosts it names and makes TLS with a
//! verified certificate mandatory; `testing` only logs (RFC 8461 §5).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use portcullis_queue::mta_sts::{parse_policy, record_id, Mode, Policy};
use portcullis_queue::Failure;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::{info, warn};

use super::resolve::{Candidate, Resolver};
use super::tls::server_name;

/// The whole fetch (connect, handshake, request, answer): RFC 8461 §3.3
/// asks for a timeout without naming one; one minute as Postfix's
/// postfix-mta-sts-resolver.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 8461 §3.3: senders may cap the policy size; 64 KiB is its example.
const MAX_POLICY: usize = 64 * 1024;
/// Room for the status line and headers on top of the policy.
const MAX_HEADERS: usize = 16 * 1024;

/// A domain's policy in force, as the session applies it.
pub(super) struct Active {
    /// The recipient domain.
    pub domain: String,
    /// Its policy (mode enforce or testing).
    pub policy: Policy,
}

impl Active {
    /// Whether the session must use verified TLS to a named MX.
    pub(super) fn enforce(&self) -> bool {
        self.policy.mode == Mode::Enforce
    }

    /// `MTA-STS policy of D (mode): what`, the text of logs and queue errors.
    pub(super) fn say(&self, what: &str) -> String {
        format!(
            "MTA-STS policy of {} ({}): {what}",
            self.domain, self.policy.mode
        )
    }

    /// The candidates the policy allows: under `enforce` only MX hosts it
    /// names (none left: a temporary failure naming them); under `testing`
    /// all, with a log line for each that would have been refused.
    pub(super) fn filter(&self, candidates: Vec<Candidate>) -> Result<Vec<Candidate>, Failure> {
        let refused: Vec<String> = candidates
            .iter()
            .filter(|c| !self.policy.names(&c.name))
            .map(|c| c.name.clone())
            .fold(Vec::new(), |mut v, n| {
                if !v.contains(&n) {
                    v.push(n);
                }
                v
            });
        if refused.is_empty() {
            return Ok(candidates);
        }
        let what = format!(
            "MX {} {} not named by the policy",
            refused.join(", "),
            if refused.len() == 1 { "is" } else { "are" }
        );
        if !self.enforce() {
            warn!("{}; delivering anyway", self.say(&what));
            return Ok(candidates);
        }
        let kept: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| self.policy.names(&c.name))
            .collect();
        if kept.is_empty() {
            warn!("{}; deferring", self.say(&what));
            return Err(Failure::local((4, 7, 5), self.say(&what)));
        }
        info!("{}; skipping them", self.say(&what));
        Ok(kept)
    }
}

struct Cached {
    id: String,
    policy: Policy,
    expires: Instant,
}

/// Domain → its last good policy. In memory only: after a restart the
/// policies are fetched again.
fn cache() -> &'static Mutex<HashMap<String, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Cached>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached(domain: &str, id: Option<&str>) -> Option<Policy> {
    let map = cache().lock().unwrap_or_else(|p| p.into_inner());
    map.get(domain)
        .filter(|c| c.expires > Instant::now() && id.is_none_or(|id| id == c.id))
        .map(|c| c.policy.clone())
}

/// The policy of `domain` in force now, if any (RFC 8461 §5.1). A policy
/// that cannot be fetched, with none cached, means delivering as usual.
pub(super) async fn policy_for(
    domain: &str,
    resolver: &Resolver,
    tls: &Arc<ClientConfig>,
    port: u16,
) -> Option<Active> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let policy = match resolver.txt(&format!("_mta-sts.{domain}")).await {
        Ok(records) => match record_id(&records) {
            Ok(Some(id)) => match cached(&domain, Some(&id)) {
                Some(p) => Some(p),
                None => match fetch(&domain, resolver, tls, port).await {
                    Ok(policy) => {
                        info!(domain, id, mode = %policy.mode, max_age = policy.max_age, "MTA-STS policy fetched");
                        let expires = Instant::now() + Duration::from_secs(policy.max_age);
                        let mut map = cache().lock().unwrap_or_else(|p| p.into_inner());
                        map.insert(
                            domain.clone(),
                            Cached {
                                id,
                                policy: policy.clone(),
                                expires,
                            },
                        );
                        Some(policy)
                    }
                    Err(e) => {
                        let old = cached(&domain, None);
                        warn!(
                            domain,
                            "MTA-STS policy of {domain} could not be fetched: {e}; {}",
                            if old.is_some() {
                                "using the cached one"
                            } else {
                                "delivering without it"
                            }
                        );
                        old
                    }
                },
            },
            // §5.1: no (valid) record: a cached policy stays in force.
            Ok(None) => cached(&domain, None),
            Err(e) => {
                warn!(domain, "MTA-STS record of {domain} ignored: {e}");
                cached(&domain, None)
            }
        },
        Err(e) => {
            info!(domain, "MTA-STS record lookup for {domain} failed: {e}");
            cached(&domain, None)
        }
    };
    policy
        .filter(|p| p.mode != Mode::None)
        .map(|policy| Active { domain, policy })
}

/// Fetches and parses `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`.
async fn fetch(
    domain: &str,
    resolver: &Resolver,
    tls: &Arc<ClientConfig>,
    port: u16,
) -> Result<Policy, String> {
    let host = format!("mta-sts.{domain}");
    let body = tokio::time::timeout(FETCH_TIMEOUT, get(&host, resolver, tls, port))
        .await
        .map_err(|_| {
            format!(
                "https://{host}/ did not answer within {}s",
                FETCH_TIMEOUT.as_secs()
            )
        })??;
    parse_policy(&body)
}

/// One HTTP/1.0 GET (no chunked answers, no keep-alive) over TLS with the
/// certificate checked for `host`; the body of a 200 answer.
async fn get(
    host: &str,
    resolver: &Resolver,
    tls: &Arc<ClientConfig>,
    port: u16,
) -> Result<String, String> {
    let ips = resolver.ips(host).await?;
    let mut last = format!("{host} has no address");
    let mut tcp = None;
    for ip in ips {
        match TcpStream::connect(SocketAddr::new(ip, port)).await {
            Ok(t) => {
                tcp = Some(t);
                break;
            }
            Err(e) => last = format!("connect to {ip}:{port}: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let name = server_name(host)?;
    let mut stream = TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host} failed: {e}"))?;
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: portcullis\r\nAccept: text/plain\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending to {host}: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() > MAX_POLICY + MAX_HEADERS {
                    return Err(format!("the policy from {host} is larger than 64 KiB"));
                }
            }
            // Many servers close without TLS close_notify; a cut-short
            // body is still caught by Content-Length or the parser.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("reading from {host}: {e}")),
        }
    }
    body_of(host, &answer)
}

/// The body of an HTTP answer, if it is a complete `200` of `text/plain`.
/// RFC 8461 §3.3: redirects are not followed.
fn body_of(host: &str, answer: &[u8]) -> Result<String, String> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("the answer from {host} is not HTTP"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let body = &answer[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(format!("https://{host}/.well-known/mta-sts.txt answered \"{status}\" (only 200 is accepted; redirects are not followed)"));
    }
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-type" if !value.to_ascii_lowercase().starts_with("text/plain") => {
                return Err(format!(
                    "the policy from {host} has Content-Type \"{value}\", not text/plain"
                ))
            }
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => {
                return Err(format!(
                    "the policy from {host} came with Transfer-Encoding \"{value}\""
                ))
            }
            _ => {}
        }
    }
    if body.len() > MAX_POLICY {
        return Err(format!("the policy from {host} is larger than 64 KiB"));
    }
    if let Some(n) = length {
        if n != body.len() {
            return Err(format!(
                "the policy from {host} was cut short ({} of {n} bytes)",
                body.len()
            ));
        }
    }
    String::from_utf8(body.to_vec()).map_err(|_| format!("the policy from {host} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::body_of;

    #[test]
    fn only_a_complete_200_text_plain_answer_counts() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(body_of("h", ok).unwrap(), "hello");
        let redirect = b"HTTP/1.1 301 Moved\r\nLocation: https://evil/\r\n\r\n";
        assert!(body_of("h", redirect)
            .unwrap_err()
            .contains("redirects are not followed"));
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>";
        assert!(body_of("h", html).unwrap_err().contains("\"text/html\""));
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(body_of("h", short).unwrap_err().contains("cut short"));
        assert!(body_of("h", b"garbage").unwrap_err().contains("not HTTP"));
    }
}
