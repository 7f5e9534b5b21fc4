//! The Decisions screen: the latest relay grants and denials, newest first,
//! filterable by client or rule.

use maud::{html, Markup};

/// One relay decision as the screen lists it.
pub(crate) struct DecisionRow {
    /// When, as seconds since the Unix epoch.
    pub(crate) at: u64,
    /// The client address.
    pub(crate) client: String,
    /// The recipient.
    pub(crate) recipient: String,
    /// `granted`, `denied` or `tempfail`.
    pub(crate) decision: String,
    /// The rule that decided.
    pub(crate) rule: String,
}

/// The filter typed into the screen (empty: everything).
#[derive(Default)]
pub(crate) struct Filter {
    /// A client address, or its beginning (`192.168.41.`).
    pub(crate) client: String,
    /// Text the deciding rule contains.
    pub(crate) rule: String,
}

impl Filter {
    /// Whether `row` passes the filter.
    pub(crate) fn keeps(&self, row: &DecisionRow) -> bool {
        row.client.starts_with(self.client.trim()) && row.rule.contains(self.rule.trim())
    }
}

/// The Decisions screen's body: the rows that pass `filter`.
pub(crate) fn decisions(rows: &[DecisionRow], filter: &Filter) -> Markup {
    html! {
        form method="get" action="/console/decisions" {
            label { "Client" input name="client" value=(filter.client) placeholder="192.168.41."; }
            label { "Rule" input name="rule" value=(filter.rule); }
            button type="submit" { "Filter" }
        }
        table.decisions {
            thead { tr { th { "Time" } th { "Client" } th { "Recipient" } th { "Decision" } th { "Rule" } } }
            tbody {
                @for row in rows.iter().filter(|r| filter.keeps(r)) {
                    tr {
                        td { time datetime=(utc(row.at, "T", "Z")) { (utc(row.at, " ", " UTC")) } }
                        td { (row.client) }
                        td { (row.recipient) }
                        td class=(decision_class(&row.decision)) { (row.decision) }
                        td.rule { (row.rule) }
                    }
                }
            }
        }
    }
}

/// The colour of a decision: a temporary failure is neither a grant nor a
/// denial.
fn decision_class(decision: &str) -> &'static str {
    match decision {
        "granted" => "accepted",
        "denied" => "refused",
        _ => "warning",
    }
}

/// `secs` since the Unix epoch as a UTC date and time, `2026-12-04` `sep`
/// `05:00:11` `zone`: with " " and " UTC" for people, "T" and "Z" for the
/// `datetime` attribute (RFC 3339).
pub(crate) fn utc(secs: u64, sep: &str, zone: &str) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}{zone}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
