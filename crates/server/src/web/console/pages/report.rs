//! The box at the top of a page after a change: what the edit changed, and
//! the report of the reload that applied it.

use maud::{html, Markup};

use crate::admin::config::Edited;

/// The change `edited` made, and `reload` (the reload's report lines, or
/// the sentence saying why it did not happen).
pub(crate) fn change_report(edited: &Edited, reload: &Result<Vec<String>, String>) -> Markup {
    html! {
        section.report role="status" {
            @if edited.changed() {
                p {
                    code { (edited.key) } ": "
                    @if let Some(before) = &edited.before { code { (before) } " → " }
                    code { (edited.after) }
                }
            } @else {
                p { code { (edited.key) } " already was " code { (edited.after) } "; nothing changed." }
            }
            @if edited.needs_restart {
                p.warning { "The running server takes this value at its next start." }
            }
            @if !edited.warnings.is_empty() {
                ul.warnings { @for w in &edited.warnings { li { (w) } } }
            }
            @match reload {
                Ok(lines) => {
                    h3 { "Reload" }
                    ul.reload { @for line in lines { li { (line) } } }
                }
                Err(sentence) => p.error { "Not reloaded: " (sentence) },
            }
        }
    }
}
