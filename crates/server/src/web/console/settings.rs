//! The Settings screen (GET) and its changes (POST): each form is one
//! `config set` or `config unset` edit through the admin API
//! ([`config_edit`]), saved and reloaded at once, with the report above the
//! screen or the refusal under the key's field.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_config::EditOp;
use serde::Deserialize;

use super::change::Change;
use super::context::{config_edit, screen, Console, Ctx};
use super::form::setting_edit;
use super::pages::report::change_report;
use super::pages::settings::{self as page, Refusal, Row};
use super::screens::failed;
use super::session::Session;
use crate::admin;
use crate::web::api::blocking;
use crate::web::api::reply::ApiError;

const PATH: &str = "/console/settings";
const TITLE: &str = "Settings";

/// The section asked for, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SectionQuery {
    #[serde(default)]
    section: String,
}

/// `GET /console/settings?section=NAME` (the auth section when none).
pub(crate) async fn settings(
    State(c): State<Console>,
    ctx: Ctx,
    Query(q): Query<SectionQuery>,
) -> Response {
    let session = match ctx.page(&c) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let section = match q.section.trim() {
        "" => page::FIRST,
        s => s,
    };
    if !page::sections().any(|known| known == section) {
        let e = ApiError::not_found(format!("there is no settings section \"{section}\""));
        return failed(&session, PATH, TITLE, &e);
    }
    settings_screen(&c, &session, section, None, html! {}).await
}

/// The Settings screen for `section`, with a refusal under its key's field
/// and `above` (a change report) on top.
async fn settings_screen(
    c: &Console,
    session: &Session,
    section: &str,
    refusal: Option<&Refusal<'_>>,
    above: Markup,
) -> Response {
    let path = c.api.config_path.clone();
    let read = blocking(move || {
        let all = admin::config::read(&path, None, false)?;
        let changed = admin::config::read(&path, None, true)?;
        Ok((all, changed))
    })
    .await;
    let (all, changed) = match read {
        Ok(read) => read,
        Err(e) => return failed(session, PATH, TITLE, &e),
    };
    let rows: Vec<Row> = all
        .into_iter()
        .filter(|s| page::section_of(&s.key) == section)
        .map(|s| Row {
            default: !changed.iter().any(|c| c.key == s.key),
            key: s.key,
            value: s.value,
        })
        .collect();
    let body = html! { (above) (page::settings(&session.csrf, section, &rows, refusal)) };
    screen(session, PATH, &format!("{TITLE}: {section}"), body)
}

/// `POST /console/settings/{set,unset}`.
pub(crate) async fn settings_post(
    State(c): State<Console>,
    Path(action): Path<String>,
    change: Change,
) -> Response {
    let Change { ctx, form, session } = change;
    let key = form.get("key").unwrap_or_default().trim().to_string();
    let typed = form.get("value").unwrap_or_default();
    let section = match page::section_of(&key) {
        s if page::sections().any(|known| known == s) => s,
        _ => page::FIRST,
    };
    let op: EditOp = match setting_edit(&action, &form) {
        Ok(op) => op,
        Err(sentence) => {
            let refusal = Refusal {
                key: &key,
                value: typed,
                sentence: &sentence,
            };
            return refused(&c, &session, section, &refusal, StatusCode::BAD_REQUEST).await;
        }
    };
    match config_edit(&c, &session.admin, ctx.peer.0.ip(), op).await {
        Ok((edited, reload)) => {
            settings_screen(&c, &session, section, None, change_report(&edited, &reload)).await
        }
        Err(e) => {
            let refusal = Refusal {
                key: &key,
                value: typed,
                sentence: e.message(),
            };
            refused(&c, &session, section, &refusal, e.status()).await
        }
    }
}

/// The screen with `refusal` under its key's field, answered with `status`.
async fn refused(
    c: &Console,
    session: &Session,
    section: &str,
    refusal: &Refusal<'_>,
    status: StatusCode,
) -> Response {
    let page = settings_screen(c, session, section, Some(refusal), html! {}).await;
    (status, page).into_response()
}
