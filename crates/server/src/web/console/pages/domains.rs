//! The Aliases, local domains and routes screen. Each form becomes one
//! `config` edit (see `form::domain_edit`), validated by the admin API as
//! `portcullis config set/add/remove/unset` would be.

use maud::{html, Markup};

use super::layout::csrf_field;

/// What the screen shows, read from the configuration.
#[derive(Default)]
pub(crate) struct Domains {
    /// `local_domains`.
    pub(crate) local: Vec<String>,
    /// `[aliases]`: name and targets.
    pub(crate) aliases: Vec<(String, Vec<String>)>,
    /// `[routes]`: domain and host[:port].
    pub(crate) routes: Vec<(String, String)>,
}

/// A refused edit: which form (`domain`, `alias` or `route`), the admin
/// API's sentence, and the fields as typed, kept in that form.
pub(crate) struct Refusal<'a> {
    /// The form the edit came from.
    pub(crate) form: &'a str,
    /// Why it was refused.
    pub(crate) sentence: &'a str,
    /// The `name` field as typed.
    pub(crate) name: &'a str,
    /// The `value` field as typed.
    pub(crate) value: &'a str,
}

/// The screen's body, with `refusal` under the form it is about.
pub(crate) fn domains(csrf: &str, d: &Domains, refusal: Option<&Refusal<'_>>) -> Markup {
    let refused = |form: &str| refusal.filter(|r| r.form == form);
    let error = |form: &str| -> Markup {
        html! {
            @if let Some(r) = refused(form) {
                p.error.field-error role="alert" { (r.sentence) }
            }
        }
    };
    let name = |form: &str| refused(form).map(|r| r.name);
    let value = |form: &str| refused(form).map(|r| r.value);
    html! {
        section #local-domains {
            h2 { "Local domains" }
            ul { @for dom in &d.local { li data-domain=(dom) { (dom) " " (remove(csrf, "domain", dom)) } } }
            form method="post" action="/console/domains/domain/add" {
                (csrf_field(csrf))
                label { "Domain" input name="name" value=[name("domain")] required; }
                button type="submit" { "Add" }
                (error("domain"))
            }
        }
        section #aliases {
            h2 { "Aliases" }
            table { tbody { @for (name, targets) in &d.aliases {
                tr data-alias=(name) { td { (name) } td { (targets.join(", ")) } td { (remove(csrf, "alias", name)) } }
            } } }
            form method="post" action="/console/domains/alias/add" {
                (csrf_field(csrf))
                label { "Name" input name="name" value=[name("alias")] required; }
                label { "Targets (comma-separated)" input name="value" value=[value("alias")] required; }
                button type="submit" { "Set" }
                (error("alias"))
            }
        }
        section #routes {
            h2 { "Routes" }
            table { tbody { @for (domain, host) in &d.routes {
                tr data-route=(domain) { td { (domain) } td { (host) } td { (remove(csrf, "route", domain)) } }
            } } }
            form method="post" action="/console/domains/route/add" {
                (csrf_field(csrf))
                label { "Domain" input name="name" value=[name("route")] required; }
                label { "Host[:port]" input name="value" value=[value("route")] required; }
                button type="submit" { "Set" }
                (error("route"))
            }
        }
    }
}

fn remove(csrf: &str, kind: &str, name: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("/console/domains/{kind}/remove")) {
            (csrf_field(csrf))
            input type="hidden" name="name" value=(name);
            button type="submit" { "Remove" }
        }
    }
}
