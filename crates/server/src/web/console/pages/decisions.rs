//! The Decisions screen: the latest relay grants and denials, newest first,
//! filterable by client or rule.

use maud::{html, Markup};

/// One relay decision as the screen lists it.
pub(crate) struct DecisionRow {
    /// When, as the log shows times.
    pub(crate) at: String,
    /// The client address.
    pub(crate) client: String,
    /// The recipient.
    pub(crate) recipient: String,
    /// Whether relaying was granted.
    pub(crate) granted: bool,
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
                        td { (row.at) }
                        td { (row.client) }
                        td { (row.recipient) }
                        @if row.granted { td.accepted { "granted" } } @else { td.refused { "denied" } }
                        td.rule { (row.rule) }
                    }
                }
            }
        }
    }
}
