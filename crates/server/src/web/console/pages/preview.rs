//! The preview shown before a relay list change is saved: what changes,
//! and the list before and after, each entry with its compiled form.

use maud::{html, Markup};
use portcullis_relay::report::{LoadReport, Outcome};

use super::layout::csrf_field;

/// The preview's body. `after` is the list to save; `fingerprint` is the
/// fingerprint of the list it was computed from (see `form::fingerprint`).
pub(crate) fn preview(
    csrf: &str,
    said: &str,
    after: &[String],
    fingerprint: &str,
    before_report: &LoadReport,
    after_report: &LoadReport,
) -> Markup {
    html! {
        p.change { (said) }
        div.compare {
            section { h2 { "Before" } (compiled(before_report)) }
            section { h2 { "After" } (compiled(after_report)) }
        }
        form method="post" action="/console/relay/save" {
            (csrf_field(csrf))
            input type="hidden" name="fingerprint" value=(fingerprint);
            @for entry in after {
                input type="hidden" name="entry" value=(entry);
            }
            button type="submit" { "Save and reload" }
            " "
            a href="/console/relay" { "Cancel" }
        }
    }
}

fn compiled(report: &LoadReport) -> Markup {
    html! {
        p.summary { (report.summary()) }
        ol start="0" {
            @for line in &report.lines {
                @match &line.outcome {
                    Outcome::Added(c) => li { code { (line.raw) } " — added " (c) },
                    Outcome::Skipped(e) => li.skipped { code { (line.raw) } " — skipped: " (e) },
                }
            }
        }
        @let warnings: Vec<_> = report.warnings().collect();
        @if !warnings.is_empty() {
            ul.warnings { @for w in warnings { li { (w) } } }
        }
    }
}
