//! The Relay screen: the switches, the ordered allow list with each entry's
//! compiled form or why it is skipped, the lint warnings, the forms that
//! add, remove and move entries, and the "would this relay?" box.

use maud::{html, Markup};
use portcullis_relay::report::{LoadReport, Outcome};

use super::entry_page;
use super::layout::csrf_field;
use crate::admin::relay::Verdict;

/// The `[relay]` switches as the configuration holds them.
pub(crate) struct Switches {
    /// `restricted`: only listed clients (or authenticated ones) may relay.
    pub(crate) restricted: bool,
    /// `local_only`: accept mail for local domains only.
    pub(crate) local_only: bool,
    /// `authenticated`: an authenticated client may relay.
    pub(crate) authenticated: bool,
}

/// What the "would this relay?" box was asked, and its answer.
#[derive(Default)]
pub(crate) struct Question {
    /// The client address as typed.
    pub(crate) client: String,
    /// The AUTH user as typed (empty: none).
    pub(crate) auth: String,
    /// The recipient as typed.
    pub(crate) recipient: String,
    /// The page of the allow list to show (1-based; 0 is the first).
    pub(crate) page: usize,
    /// The rulings (the same text as `check-relay`), or the sentence that
    /// refused the question.
    pub(crate) answer: Option<Result<Vec<Verdict>, String>>,
}

/// The Relay screen's body. `add_error` is the sentence that refused the
/// last entry typed into the add form, shown next to it with its value.
pub(crate) fn relay(
    csrf: &str,
    switches: &Switches,
    report: &LoadReport,
    question: &Question,
    add_error: Option<(&str, &str)>,
) -> Markup {
    html! {
        section #switches {
            h2 { "Switches" }
            form method="post" action="/console/relay/switches" {
                (csrf_field(csrf))
                (switch("restricted", "Restricted relay: only listed clients may relay", switches.restricted))
                (switch("local_only", "Local only: accept mail for local domains only", switches.local_only))
                (switch("authenticated", "Authenticated clients may relay", switches.authenticated))
                button type="submit" { "Save and reload" }
            }
        }
        section #allow {
            h2 { "Allow list" }
            p.summary { (report.summary()) }
            (entries(csrf, report, question.page))
            form #add method="post" action="/console/relay/add" {
                (csrf_field(csrf))
                label {
                    "Entry"
                    input name="entry" value=[add_error.map(|(v, _)| v)]
                        placeholder="192.168.40-43.*, 10.0.0.0/8, host.example.org, !192.168.41.7";
                }
                @if let Some((_, sentence)) = add_error {
                    p.error.field-error role="alert" { (sentence) }
                }
                button type="submit" { "Preview" }
            }
            @let warnings: Vec<_> = report.warnings().collect();
            @if !warnings.is_empty() {
                h3 { "Warnings" }
                ul.warnings { @for w in warnings { li { (w) } } }
            }
        }
        (check_box(question))
    }
}

fn switch(name: &str, label: &str, on: bool) -> Markup {
    html! {
        label.switch {
            input type="checkbox" name=(name) value="on" checked[on];
            (label)
        }
    }
}

/// The entries in order, each with its compiled form and its move/remove
/// buttons. The buttons share one form (the HTML `form` attribute), which
/// holds the CSRF token once, and each posts its entry's index to its own
/// action, without JavaScript: a form per button made a 10,000-entry list a
/// 10 MB page that took over 50 ms to render.
fn entries(csrf: &str, report: &LoadReport, page: usize) -> Markup {
    let len = report.lines.iter().filter(|l| l.index.is_some()).count();
    let (page, pages) = entry_page::clamp(page, len);
    let shown = entry_page::indexes(page);
    html! {
        (entry_page::navigation(page, pages, len))
        form #entry-actions method="post" action="/console/relay/up" { (csrf_field(csrf)) }
        table.entries {
            thead { tr { th { "#" } th { "Entry" } th { "Compiled" } th { } } }
            tbody {
                @for line in &report.lines {
                    @if let Some(index) = line.index.filter(|i| shown.contains(i)) {
                        tr data-entry=(line.raw) {
                            td { (index) }
                            td { code { (line.raw) } }
                            @match &line.outcome {
                                Outcome::Added(compiled) => td.added { "added " (compiled) },
                                Outcome::Skipped(error) => td.skipped { "skipped: " (error) },
                            }
                            (entry_actions(index))
                        }
                    }
                }
                @for w in report.warnings() {
                    @if let Some(index) = w.index.filter(|i| shown.contains(i)) {
                        tr data-entry=(w.raw()) {
                            td { (index) }
                            td { code { (w.raw()) } }
                            td.warning { (w.message()) }
                            (entry_actions(index))
                        }
                    }
                }
            }
        }
    }
}

fn entry_actions(index: usize) -> Markup {
    html! {
        td.actions {
            (entry_action("up", index, "↑"))
            (entry_action("down", index, "↓"))
            (entry_action("remove", index, "Remove"))
        }
    }
}

fn entry_action(action: &str, index: usize, label: &str) -> Markup {
    html! {
        button type="submit" form="entry-actions" formaction=(format!("/console/relay/{action}"))
            name="index" value=(index) { (label) }
    }
}

/// The "would this relay?" box: a question is a GET, it changes nothing.
fn check_box(q: &Question) -> Markup {
    html! {
        section #check {
            h2 { "Would this relay?" }
            form method="get" action="/console/relay#check" {
                label { "Client address" input name="client" value=(q.client) required; }
                label { "AUTH user (optional)" input name="auth" value=(q.auth); }
                label { "Recipient" input name="recipient" value=(q.recipient) required; }
                button type="submit" { "Check" }
            }
            @match &q.answer {
                None => {},
                Some(Err(sentence)) => p.error role="alert" { (sentence) },
                Some(Ok(verdicts)) => ul.verdicts {
                    @for v in verdicts {
                        li.(if v.accepted { "accepted" } else { "refused" }) {
                            span.explanation { (v.explanation) }
                            @if let Some(reply) = &v.reply { " — " code { (reply) } }
                            " (rule: " span.rule { (v.rule) } ")"
                        }
                    }
                },
            }
        }
    }
}
