//! `portcullis reload|status|unban`: the operations of the running server,
//! asked through its control socket ([`admin::client`]) and rendered here.

use std::path::Path;

use portcullis_server::admin::{self, client, status::Status};

use super::output::{self, say};
use super::Failure;

/// `reload`: the report, then `reload applied`; a rejection is the error.
pub(super) fn reload(config: &Path) -> Result<(), Failure> {
    let report = client::reload(&client::data_dir_of(config)?)?;
    output::lines(
        report
            .lines
            .iter()
            .map(String::as_str)
            .chain(["reload applied"]),
    )
}

/// `status`.
pub(super) fn status(config: &Path) -> Result<(), Failure> {
    let status = client::status(&client::data_dir_of(config)?)?;
    output::lines(status_lines(&status))
}

/// `unban ADDRESS`.
pub(super) fn unban(config: &Path, address: &str) -> Result<(), Failure> {
    let ip: std::net::IpAddr = address
        .parse()
        .map_err(|_| admin::Error::bad_input(format!("\"{address}\" is not an IP address")))?;
    let sentence = client::unban(&client::data_dir_of(config)?, ip)?;
    say!("{sentence}")
}

/// The `key: value` lines of `status`.
fn status_lines(s: &Status) -> Vec<String> {
    let up = s.uptime_secs;
    let mut out = vec![
        format!(
            "uptime: {}d {:02}h {:02}m {:02}s",
            up / 86_400,
            up / 3600 % 24,
            up / 60 % 60,
            up % 60
        ),
        format!("pid: {}", s.pid),
    ];
    for l in &s.listeners {
        out.push(format!("listen.{}: {}", l.role, l.addresses.join(" ")));
    }
    out.push(format!("sessions: {}", s.sessions));
    out.push(format!("connections: {}", s.connections));
    out.push(format!("messages accepted: {}", s.messages_accepted));
    out.push(format!("relay grants: {}", s.relay_grants));
    out.push(format!("relay denials: {}", s.relay_denials));
    let refusals: Vec<String> = s
        .limit_refusals
        .iter()
        .map(|(key, n)| format!("{key}={n}"))
        .collect();
    out.push(format!(
        "limit refusals: {}",
        if refusals.is_empty() {
            "none".to_string()
        } else {
            refusals.join(" ")
        }
    ));
    out.push(format!("queue: {} messages", s.queued));
    out.push(format!("relay list: {} entries", s.relay_entries));
    out.push(directory_line(&s.directory));
    out.push(format!("auth bans: {}", s.auth_bans.len()));
    for ban in &s.auth_bans {
        out.push(format!(
            "auth ban: {} until {} ({}m {:02}s left): {}",
            ban.client,
            ban.until,
            ban.left_secs / 60,
            ban.left_secs % 60,
            ban.reason
        ));
    }
    out
}

/// `directory: files, version …, always current`, or how long ago the
/// shared directory confirmed the site, and whether the node fails closed.
fn directory_line(d: &portcullis_server::admin::status::DirectoryStatus) -> String {
    let freshness = match d.confirmed_secs_ago {
        None => "always current".to_string(),
        Some(ago) if d.stale => format!(
            "STALE: confirmed {ago} s ago, more than max_stale {} s (relay gets 451, AUTH 454)",
            d.max_stale_secs
        ),
        Some(ago) => format!("confirmed {ago} s ago (max_stale {} s)", d.max_stale_secs),
    };
    format!(
        "directory: {}, version {}, {freshness}",
        d.backend, d.version
    )
}
