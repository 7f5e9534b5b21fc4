//! The Settings screen: every configuration key of one section, with its
//! effective value, whether that is the default, and what it is for. Each
//! key has a form that sets it (`config set KEY VALUE...`, list values
//! separated by spaces, in order) and one that puts the default back
//! (`config unset KEY`). Keys that have a screen of their own (the relay
//! switches and list, the local domains) link to it instead, so there is
//! one place to edit them.

use maud::{html, Markup};
use portcullis_config::keys::{KeyKind, SECTIONS};
use portcullis_config::KEYS;

use super::layout::csrf_field;

/// The name the screen gives the keys outside any `[section]`.
pub(crate) const GENERAL: &str = "general";

/// The section the screen opens on: the one the seed's recipes need.
pub(crate) const FIRST: &str = "auth";

/// Keys edited on another screen: key, that screen's path and title.
const ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "local_domains",
        "/console/domains",
        "Aliases, domains, routes",
    ),
    ("relay.local_only", "/console/relay", "Relay"),
    ("relay.restricted", "/console/relay", "Relay"),
    ("relay.allow", "/console/relay", "Relay"),
    ("relay.authenticated", "/console/relay", "Relay"),
];

/// Keys whose change can cut the admin off from this screen, and the
/// warning shown by their field.
const CAREFUL: &[(&str, &str)] = &[
    (
        "admin.listen",
        "Applied at once: a list without the address this page came from closes the console; `portcullis config set admin.listen` still works from a shell.",
    ),
];

/// One key as the screen shows it.
pub(crate) struct Row {
    /// The dotted key.
    pub(crate) key: String,
    /// Its effective value as `config read` prints it.
    pub(crate) value: String,
    /// Whether that value is the default.
    pub(crate) default: bool,
}

/// A refused change: the key, the value as typed, and the admin API's
/// sentence, shown under that key's field.
pub(crate) struct Refusal<'a> {
    /// The key the form was about.
    pub(crate) key: &'a str,
    /// The value as typed, kept in the field.
    pub(crate) value: &'a str,
    /// Why it was refused.
    pub(crate) sentence: &'a str,
}

/// The sections the screen offers, in the file's order; the aliases and
/// routes tables have their own screen.
pub(crate) fn sections() -> impl Iterator<Item = &'static str> {
    std::iter::once(GENERAL).chain(
        SECTIONS
            .iter()
            .copied()
            .filter(|s| !matches!(*s, "aliases" | "routes")),
    )
}

/// The screen's section of `key`.
pub(crate) fn section_of(key: &str) -> &str {
    key.split_once('.').map_or(GENERAL, |(section, _)| section)
}

/// The id of a key's row, so a link (and a test) can point at it.
pub(crate) fn row_id(key: &str) -> String {
    format!("set-{}", key.replace(['.', '_'], "-"))
}

/// The Settings screen's body for `section`.
pub(crate) fn settings(
    csrf: &str,
    section: &str,
    rows: &[Row],
    refusal: Option<&Refusal<'_>>,
) -> Markup {
    html! {
        nav.sections aria-label="Sections" {
            @for s in sections() {
                @let href = format!("/console/settings?section={s}");
                @if s == section { a href=(href) aria-current="page" { (s) } } @else { a href=(href) { (s) } }
            }
        }
        section #settings {
            // A key no row shows (say, mistyped by hand) gets its sentence here.
            @if let Some(r) = refusal.filter(|r| !rows.iter().any(|row| row.key == r.key)) {
                p.error role="alert" { (r.sentence) }
            }
            p.hint {
                "Each field takes what " code { "portcullis config set KEY" } " takes: a list's values "
                "separated by spaces, in the order they apply. Saving validates the value as the "
                "command line does, writes the file and reloads; Default removes the key from the file."
            }
            table.settings {
                tbody { @for row in rows { (setting_row(csrf, row, refusal.filter(|r| r.key == row.key))) } }
            }
        }
    }
}

fn setting_row(csrf: &str, row: &Row, refusal: Option<&Refusal<'_>>) -> Markup {
    let info = KEYS.iter().find(|k| k.key == row.key);
    let elsewhere = ELSEWHERE.iter().find(|(k, _, _)| *k == row.key);
    let shown = refusal.map_or(row.value.as_str(), |r| r.value);
    html! {
        tr id=(row_id(&row.key)) {
            th { code { (row.key) } }
            td.doc {
                @if let Some(info) = info { (info.doc) }
                @if row.default { " " span.default { "(default)" } }
                @if let Some((_, warning)) = CAREFUL.iter().find(|(k, _)| *k == row.key) {
                    p.warning { (warning) }
                }
            }
            td {
                @if let Some((_, path, title)) = elsewhere {
                    code { (row.value) } " — edited on " a href=(path) { (title) }
                } @else {
                    form.inline method="post" action="/console/settings/set" {
                        (csrf_field(csrf))
                        input type="hidden" name="key" value=(row.key);
                        (value_field(&row.key, info.map(|i| i.kind), shown))
                        button type="submit" { "Save and reload" }
                    }
                    form.inline method="post" action="/console/settings/unset" {
                        (csrf_field(csrf))
                        input type="hidden" name="key" value=(row.key);
                        button type="submit" { "Default" }
                    }
                    @if let Some(r) = refusal { p.error.field-error role="alert" { (r.sentence) } }
                }
            }
        }
    }
}

/// A yes/no choice for a switch, a text field for everything else.
fn value_field(key: &str, kind: Option<KeyKind>, value: &str) -> Markup {
    if kind == Some(KeyKind::Bool) {
        return html! {
            select name="value" aria-label=(key) {
                option value="true" selected[value == "true"] { "true" }
                option value="false" selected[value == "false"] { "false" }
            }
        };
    }
    html! { input name="value" value=(value) aria-label=(key) size="40"; }
}
