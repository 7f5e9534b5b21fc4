//! The Dashboard: the server's state at a glance, from the admin API's
//! status (the same numbers `portcullis status` prints).

use maud::{html, Markup};

use crate::admin::status::Status;

/// The Dashboard's body. `warnings` are the lines the last load reported.
pub(crate) fn dashboard(status: &Status, warnings: &[String]) -> Markup {
    html! {
        dl.stats {
            dt { "Uptime" } dd { (uptime(status.uptime_secs)) }
            dt { "Sessions" } dd { (status.sessions) }
            dt { "Connections since start" } dd { (status.connections) }
            dt { "Messages accepted" } dd { (status.messages_accepted) }
            dt { "Queue" } dd { (status.queued) " messages" }
            dt { "Relay grants / denials" } dd { (status.relay_grants) " / " (status.relay_denials) }
            dt { "Relay list" } dd { (status.relay_entries) " entries" }
        }
        h2 { "Listeners" }
        ul.listeners {
            @for l in &status.listeners {
                li { strong { (l.role) } " " (l.addresses.join(", ")) }
            }
        }
        h2 { "Bans" }
        @if status.auth_bans.is_empty() {
            p { "No client is banned." }
        } @else {
            table.bans {
                thead { tr { th { "Client" } th { "Until" } th { "Reason" } } }
                tbody {
                    @for b in &status.auth_bans {
                        tr { td { (b.client) } td { (b.until) } td { (b.reason) } }
                    }
                }
            }
        }
        @if !warnings.is_empty() {
            h2 { "Warnings from the last load" }
            ul.warnings { @for w in warnings { li { (w) } } }
        }
    }
}

/// `3d 4h 5m`, the largest units that matter.
fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {}s", secs % 60),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::uptime;

    #[test]
    fn uptime_reads_in_the_largest_units() {
        assert_eq!(uptime(59), "0m 59s");
        assert_eq!(uptime(3_660), "1h 1m");
        assert_eq!(uptime(2 * 86_400 + 3_600 + 120), "2d 1h 2m");
    }
}
