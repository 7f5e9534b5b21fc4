//! The Queue screen: every message with each recipient's state and last
//! error, and the flush and delete forms.

use maud::{html, Markup};
use portcullis_store::spool::RecipientState;

use super::layout::csrf_field;
use crate::admin::queue::QueuedMessage;

/// The Queue screen's body.
pub(crate) fn queue(csrf: &str, messages: &[QueuedMessage]) -> Markup {
    html! {
        form method="post" action="/console/queue/flush" {
            (csrf_field(csrf))
            button type="submit" { "Flush: try every message now" }
        }
        @if messages.is_empty() {
            p { "The queue is empty." }
        } @else {
            table.queue {
                thead { tr { th { "Id" } th { "From" } th { "Recipients" } th { "Size" } th { } } }
                tbody {
                    @for m in messages {
                        @let e = &m.envelope;
                        tr {
                            td { a href=(format!("/console/queue/{}", e.id)) { code { (e.id) } } @if e.held { " (held)" } }
                            td { (if e.sender.is_empty() { "<>" } else { &e.sender }) }
                            td {
                                ul.recipients {
                                    @for r in &e.recipients {
                                        li {
                                            (r.address) " — " (state(r.state))
                                            @if r.attempts > 0 { ", " (r.attempts) " attempts" }
                                            @if let Some(err) = &r.last_error { br; span.error { (err) } }
                                        }
                                    }
                                }
                            }
                            td { (m.size) " bytes" }
                            td {
                                form.inline method="post" action="/console/queue/delete" {
                                    (csrf_field(csrf))
                                    input type="hidden" name="id" value=(e.id);
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn state(s: RecipientState) -> &'static str {
    match s {
        RecipientState::Pending => "pending",
        RecipientState::Delivered => "delivered",
        RecipientState::Failed => "failed",
    }
}
