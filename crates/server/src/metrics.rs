//! The optional Prometheus endpoint (`[metrics] listen`): a minimal HTTP/1.1
//! responder that answers `GET /metrics` with the counters of
//! [`Stats`](super::stats::Stats) in the Prometheus text exposition format
//! (version 0.0.4), names following Prometheus conventions
//! (`portcullis_smtp_connections_total`, base units, `_total` counters).
//!
//! It serves nothing else: one request per connection, a bounded request
//! head, a timeout, and no request body is ever read. Bind it to loopback or
//! a monitoring network: the counters say nothing secret, but they are not
//! for the world either.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use portcullis_queue::transition::Changes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use portcullis_smtp::reply::Enhanced;
use portcullis_smtp::session::{AuthOutcome, Event};

use super::stats::{Labeled, Stats};
use super::Shared;

/// The largest request head read; anything longer gets 431.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// A scraper must send its request within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value made safe for the exposition format (spec: `\`, `"` and
/// newline escaped).
pub fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Counts one thing a session reported: AUTH verdicts (whatever the
/// mechanism) and every negative reply.
pub fn observe(stats: &Stats, event: &Event) {
    match event {
        Event::Auth(AuthOutcome::Succeeded { .. }) => stats.auth.add("result=\"success\""),
        Event::Auth(AuthOutcome::Failed { .. }) => stats.auth.add("result=\"failure\""),
        Event::Replied { code, enhanced } => count_rejection(&stats.rejections, *code, *enhanced),
        Event::LimitReached(_) => {}
    }
}

/// Counts a negative reply by code and enhanced status code: the reasons
/// mail and commands are refused (`5.7.1` relay denied, `5.1.1` unknown
/// user, `5.3.4` too big…). Positive replies are not counted.
pub fn count_rejection(rejections: &Labeled, code: u16, enhanced: Option<Enhanced>) {
    if !(400..600).contains(&code) {
        return;
    }
    let status = enhanced.map(|e| e.to_string()).unwrap_or_default();
    rejections.add(&format!("code=\"{code}\",status=\"{status}\""));
}

/// Counts the recipients of one outbound attempt by what they came to
/// (`delivered`, `deferred`, `failed`: a permanent failure or an expired
/// lifetime), for `portcullis_delivery_attempts_total{result}`. The queue
/// runner calls it where it records the results (`outbound/finish.rs`).
pub fn count_deliveries(stats: &Stats, changes: &Changes) {
    for (n, label) in [
        (changes.delivered.len(), "result=\"delivered\""),
        (changes.deferred.len(), "result=\"deferred\""),
        (changes.failed.len(), "result=\"failed\""),
    ] {
        for _ in 0..n {
            stats.delivery_attempts.add(label);
        }
    }
}

/// Queue facts, read from the spool at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueFacts {
    /// Messages in the queue.
    pub messages: u64,
    /// Age of the oldest, in seconds (0 when the queue is empty).
    pub oldest_age: u64,
}

/// Reads the queue size and the age of its oldest message.
pub fn queue_facts(shared: &Shared) -> QueueFacts {
    let Ok(envelopes) = shared.spool.list() else {
        return QueueFacts::default();
    };
    let now = portcullis_store::clock::unix_now();
    let oldest = envelopes.iter().map(|e| e.created).min();
    QueueFacts {
        messages: u64::try_from(envelopes.len()).unwrap_or(u64::MAX),
        oldest_age: oldest.map_or(0, |created| now.saturating_sub(created)),
    }
}

/// The whole exposition.
pub fn render(shared: &Shared, queue: QueueFacts) -> String {
    let mut e = Exposition::default();
    smtp_families(&mut e, shared);
    security_families(&mut e, shared);
    queue_families(&mut e, shared, queue);
    directory_families(&mut e, shared);
    e.out
}

/// The directory's backend and version, and how current the site is.
fn directory_families(e: &mut Exposition, shared: &Shared) {
    let rt = shared.current.get();
    let freshness = shared.freshness(std::time::SystemTime::now());
    // A label value escapes `\` and `"` (Prometheus text format).
    let version = rt
        .site
        .version
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    e.family(
        "portcullis_directory_info",
        "gauge",
        "The directory backend and the version of the site in force.",
        vec![(
            format!(
                "backend=\"{}\",version=\"{version}\"",
                rt.config.directory.backend.name()
            ),
            1,
        )],
    );
    e.family(
        "portcullis_directory_confirmed_age_seconds",
        "gauge",
        "Seconds since the directory last confirmed the site in force (0: the backend is its own truth).",
        plain(freshness.age().map_or(0, |a| a.as_secs())),
    );
    e.family(
        "portcullis_directory_stale",
        "gauge",
        "1 while the site is older than directory.max_stale: relay and AUTH get temporary failures.",
        plain(u64::from(freshness.is_stale())),
    );
}

/// The text exposition format being written, one metric family at a time.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    /// One family: its help and type lines, then a sample per series
    /// (a counter's samples carry the `_total` suffix).
    fn family(&mut self, name: &str, kind: &str, help: &str, series: Vec<(String, u64)>) {
        let out = &mut self.out;
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let sample = if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_string()
        };
        for (labels, value) in series {
            if labels.is_empty() {
                let _ = writeln!(out, "{sample} {value}");
            } else {
                let _ = writeln!(out, "{sample}{{{labels}}} {value}");
            }
        }
    }
}

/// A series without labels.
fn plain(v: u64) -> Vec<(String, u64)> {
    vec![(String::new(), v)]
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Connections, sessions, messages, refusals and relay decisions.
fn smtp_families(e: &mut Exposition, shared: &Shared) {
    let s = &shared.stats;
    e.family(
        "portcullis_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        plain(shared.started.elapsed().as_secs()),
    );
    e.family(
        "portcullis_smtp_connections",
        "counter",
        "SMTP connections accepted, by listener role.",
        with_zero(
            s.connections_by_role.snapshot(),
            &[
                "listener=\"smtp\"",
                "listener=\"submission\"",
                "listener=\"submissions\"",
            ],
        ),
    );
    e.family(
        "portcullis_smtp_sessions",
        "gauge",
        "SMTP sessions in progress.",
        plain(load(&s.sessions)),
    );
    e.family(
        "portcullis_smtp_messages_accepted",
        "counter",
        "Messages accepted (stored durably and acknowledged with 250).",
        plain(load(&s.messages_accepted)),
    );
    e.family(
        "portcullis_smtp_messages_rejected",
        "counter",
        "Messages refused after DATA because they could not be stored, by reason.",
        with_zero(s.messages_rejected.snapshot(), &["reason=\"local_error\""]),
    );
    e.family(
        "portcullis_smtp_rejections",
        "counter",
        "Negative replies sent (4xx/5xx), by reply code and enhanced status code (the reason).",
        s.rejections.snapshot(),
    );
    e.family(
        "portcullis_relay_decisions",
        "counter",
        "Relay decisions for remote recipients, by result and the kind of rule that decided.",
        s.relay_decisions.snapshot(),
    );
}

/// AUTH, TLS, PROXY headers and abuse limits.
fn security_families(e: &mut Exposition, shared: &Shared) {
    let s = &shared.stats;
    e.family(
        "portcullis_auth_attempts",
        "counter",
        "SMTP AUTH attempts that reached a verdict, by result.",
        with_zero(
            s.auth.snapshot(),
            &["result=\"failure\"", "result=\"success\""],
        ),
    );
    e.family(
        "portcullis_tls_handshakes",
        "counter",
        "TLS handshakes (STARTTLS and implicit TLS), by result.",
        with_zero(
            s.tls_handshakes.snapshot(),
            &["result=\"failed\"", "result=\"ok\""],
        ),
    );
    e.family(
        "portcullis_tls_illegal_sni",
        "counter",
        "ClientHellos whose server name (SNI) was ignored as illegal: an IP address, a malformed or duplicate name.",
        plain(super::logging::ILLEGAL_SNI.load(Ordering::Relaxed)),
    );
    e.family(
        "portcullis_proxy_headers",
        "counter",
        "PROXY protocol headers on proxied listeners, by result.",
        s.proxy.snapshot(),
    );
    e.family(
        "portcullis_limit_refusals",
        "counter",
        "Clients cut off by an abuse limit, by the configuration key of that limit.",
        s.limit_refusals.snapshot(),
    );
}

/// The outbound queue and its delivery attempts.
fn queue_families(e: &mut Exposition, shared: &Shared, queue: QueueFacts) {
    let s = &shared.stats;
    e.family(
        "portcullis_queue_messages",
        "gauge",
        "Messages in the outbound queue.",
        plain(queue.messages),
    );
    e.family(
        "portcullis_queue_oldest_message_age_seconds",
        "gauge",
        "Age of the oldest message in the outbound queue (0 when empty).",
        plain(queue.oldest_age),
    );
    // The outbound runner counts here (Stats::delivery_attempts), one per
    // recipient attempt, by result.
    e.family(
        "portcullis_delivery_attempts",
        "counter",
        "Outbound delivery attempts per recipient, by result.",
        with_zero(
            s.delivery_attempts.snapshot(),
            &[
                "result=\"deferred\"",
                "result=\"delivered\"",
                "result=\"failed\"",
            ],
        ),
    );
}

/// `series` plus a zero for each of `always` that is missing, so a scraper
/// sees the series before the first event.
fn with_zero(mut series: Vec<(String, u64)>, always: &[&str]) -> Vec<(String, u64)> {
    for labels in always {
        if !series.iter().any(|(l, _)| l == labels) {
            series.push(((*labels).to_string(), 0));
        }
    }
    series.sort();
    series
}

/// The running endpoint, rebound when `metrics.listen` changes on reload.
#[derive(Default)]
pub struct Endpoint {
    running: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Endpoint {
    /// Serves on `want` (None: off), binding or closing to match.
    pub async fn sync(
        &mut self,
        want: Option<SocketAddr>,
        shared: &Arc<Shared>,
    ) -> Result<(), String> {
        if self.running.as_ref().map(|(a, _)| *a) == want {
            return Ok(());
        }
        self.close();
        let Some(addr) = want else { return Ok(()) };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} (metrics.listen): {e}"))?;
        info!(addr = %addr, "metrics endpoint listening on /metrics");
        self.running = Some((addr, tokio::spawn(serve(listener, shared.clone()))));
        Ok(())
    }

    /// Stops serving.
    pub fn close(&mut self) {
        if let Some((addr, task)) = self.running.take() {
            task.abort();
            info!(addr = %addr, "metrics endpoint closed");
        }
    }
}

/// Serves scrapes until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &shared).await {
                        debug!(peer = %peer, "metrics request failed: {e}");
                    }
                });
            }
            Err(e) => {
                warn!("metrics accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if head.len() > MAX_REQUEST_HEAD {
                return Ok(false);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<bool, io::Error>(true);
            }
            head.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let complete = match read {
        Ok(r) => r?,
        Err(_) => return Ok(()),
    };
    let response = if complete {
        let request_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(request_line);
        let mut parts = text.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        route(method, target, shared).await
    } else {
        response(431, "text/plain", "request header too large\n".into(), true)
    };
    stream.write_all(&response).await?;
    stream.shutdown().await
}

async fn route(method: &str, target: &str, shared: &Arc<Shared>) -> Vec<u8> {
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let s = shared.clone();
            // Reading the queue touches the disk: keep it off the async threads.
            let queue = tokio::task::spawn_blocking(move || queue_facts(&s))
                .await
                .unwrap_or_default();
            response(200, CONTENT_TYPE, render(shared, queue), method == "GET")
        }
        ("GET" | "HEAD", _) => response(
            404,
            "text/plain",
            "not found: try /metrics\n".into(),
            method == "GET",
        ),
        _ => response(405, "text/plain", "only GET and HEAD\n".into(), true),
    }
}

fn response(status: u16, content_type: &str, body: String, with_body: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if with_body {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use portcullis_smtp::reply::Enhanced;
    use portcullis_smtp::session::{AuthOutcome, Event};

    use super::{label_value, observe, response, with_zero};
    use crate::stats::Stats;

    #[test]
    fn negative_replies_and_auth_verdicts_are_counted_from_events() {
        let stats = Stats::default();
        let replied = |code, enhanced| Event::Replied { code, enhanced };
        for event in [
            replied(250, Some(Enhanced(2, 1, 0))),
            replied(554, Some(Enhanced(5, 7, 1))),
            replied(550, Some(Enhanced(5, 1, 1))),
            replied(421, None),
            replied(220, None),
            replied(354, None),
            Event::Auth(AuthOutcome::Failed { user: None }),
            Event::Auth(AuthOutcome::Succeeded { user: "tim".into() }),
        ] {
            observe(&stats, &event);
        }
        let l = &stats.rejections;
        assert_eq!(l.get("code=\"554\",status=\"5.7.1\""), 1);
        assert_eq!(l.get("code=\"550\",status=\"5.1.1\""), 1);
        assert_eq!(l.get("code=\"421\",status=\"\""), 1);
        assert_eq!(l.snapshot().len(), 3, "positive replies are not counted");
        assert_eq!(stats.auth.get("result=\"failure\""), 1);
        assert_eq!(stats.auth.get("result=\"success\""), 1);
    }

    #[test]
    fn delivery_attempts_are_counted_by_result() {
        use portcullis_queue::transition::Changes;
        let stats = crate::stats::Stats::default();
        let changes = Changes {
            delivered: vec!["a@x".into()],
            deferred: Vec::new(),
            failed: Vec::new(),
            warn: Vec::new(),
        };
        super::count_deliveries(&stats, &changes);
        stats.delivery_attempts.add("result=\"deferred\"");
        stats.delivery_attempts.add("result=\"deferred\"");
        assert_eq!(stats.delivery_attempts.get("result=\"deferred\""), 2);
        assert_eq!(stats.delivery_attempts.get("result=\"delivered\""), 1);
        assert_eq!(stats.delivery_attempts.get("result=\"failed\""), 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn always_present_series_start_at_zero() {
        let s = with_zero(
            vec![("result=\"ok\"".into(), 3)],
            &["result=\"failed\"", "result=\"ok\""],
        );
        assert_eq!(
            s,
            vec![("result=\"failed\"".into(), 0), ("result=\"ok\"".into(), 3)]
        );
    }

    #[test]
    fn responses_carry_length_and_close() {
        let r = String::from_utf8(response(200, "text/plain", "x\n".into(), true)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 2\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nx\n"));
        let head = String::from_utf8(response(200, "text/plain", "x\n".into(), false)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
    }
}
