//! The log line of every change made in the console: who, what, from where.

use std::net::IpAddr;

use tracing::info;

/// Logs a change the admin API accepted, made by `admin` from `client`.
pub(crate) fn change(admin: &str, client: IpAddr, what: &str) {
    info!(target: "portcullis::console", admin, client = %client, change = what, "console change");
}

/// Logs a change the console or the admin API refused.
pub(crate) fn refused(admin: Option<&str>, client: IpAddr, what: &str, why: &str) {
    info!(
        target: "portcullis::console",
        admin = admin.unwrap_or("-"),
        client = %client,
        change = what,
        refused = why,
        "console change refused"
    );
}
