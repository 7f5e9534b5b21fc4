//! The Relay screen's changes (POST): an allow list edit is previewed
//! (before and after, compiled), then saved with `config set relay.allow`
//! and reloaded; the switches are set the same way. A bad entry is refused
//! with its sentence next to the add field.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_config::EditOp;
use portcullis_relay::report::Outcome;

use super::change::Change;
use super::context::{config_edit, screen, Console};
use super::form::{fingerprint, Form, ListEdit};
use super::pages::preview::preview;
use super::pages::relay::Question;
use super::pages::report::change_report;
use super::screens::{compile, compile_resolved, config, relay_screen};
use super::session::Session;

/// `POST /console/relay/{add,remove,up,down,save,switches}`.
pub(crate) async fn relay_post(
    State(c): State<Console>,
    Path(action): Path<String>,
    change: Change,
) -> Response {
    let Change { ctx, form, session } = change;
    let ip = ctx.peer.0.ip();
    match action.as_str() {
        "save" => save(&c, &session, ip, &form).await,
        "switches" => switches(&c, &session, ip, &form).await,
        _ => edit_preview(&c, &session, &action, &form).await,
    }
}

/// The relay screen with `sentence` under the add field holding `value`.
async fn refused(c: &Console, s: &Session, value: &str, sentence: &str) -> Response {
    let page = relay_screen(
        c,
        s,
        &Question::default(),
        Some((value, sentence)),
        html! {},
    )
    .await;
    (StatusCode::BAD_REQUEST, page).into_response()
}

async fn edit_preview(c: &Console, s: &Session, action: &str, form: &Form) -> Response {
    let typed = form.get("entry").unwrap_or_default().trim().to_string();
    let current = match config(c).await {
        Ok(cfg) => cfg.relay.allow,
        Err(e) => return refused(c, s, &typed, e.message()).await,
    };
    let edit = ListEdit::from_form(action, form).and_then(|e| e.apply(&current));
    let (after, said) = match edit {
        Ok(done) => done,
        Err(sentence) => return refused(c, s, &typed, &sentence).await,
    };
    let after_report = compile_resolved(c, &after).await;
    if action == "add" {
        // A new entry that would be skipped is refused now, with the
        // compiler's sentence, rather than saved and ignored.
        let skipped = after_report.lines.iter().find_map(|l| match &l.outcome {
            Outcome::Skipped(e) if l.index == Some(after.len() - 1) => Some(e.to_string()),
            _ => None,
        });
        if let Some(error) = skipped {
            let sentence = format!("relay.allow entry \"{typed}\" is refused: {error}");
            return refused(c, s, &typed, &sentence).await;
        }
    }
    let body = preview(
        &s.csrf,
        &said,
        &after,
        &fingerprint(&current),
        &compile(c, &current),
        &after_report,
    );
    screen(s, "/console/relay", "Relay: preview", body)
}

async fn save(c: &Console, s: &Session, ip: std::net::IpAddr, form: &Form) -> Response {
    let entries = form.all("entry");
    let current = match config(c).await {
        Ok(cfg) => cfg.relay.allow,
        Err(e) => return refused(c, s, "", e.message()).await,
    };
    if form.get("fingerprint") != Some(fingerprint(&current).as_str()) {
        let sentence = "the allow list was changed since this preview was made; look at it again and redo the change";
        return refused(c, s, "", sentence).await;
    }
    applied(c, s, ip, EditOp::Set("relay.allow".into(), entries)).await
}

async fn switches(c: &Console, s: &Session, ip: std::net::IpAddr, form: &Form) -> Response {
    let mut reports: Vec<Markup> = Vec::new();
    for key in ["restricted", "local_only", "authenticated"] {
        let value = if form.checked(key) { "true" } else { "false" };
        let op = EditOp::Set(format!("relay.{key}"), vec![value.into()]);
        match config_edit(c, &s.admin, ip, op).await {
            Ok((edited, reload)) if edited.changed() => {
                reports.push(change_report(&edited, &reload));
            }
            Ok(_) => {}
            Err(e) => {
                let above =
                    html! { @for r in &reports { (r) } p.error role="alert" { (e.message()) } };
                let page = relay_screen(c, s, &Question::default(), None, above).await;
                return (e.status(), page).into_response();
            }
        }
    }
    let above = if reports.is_empty() {
        html! { section.report role="status" { p { "The switches already were so; nothing changed." } } }
    } else {
        html! { @for r in &reports { (r) } }
    };
    relay_screen(c, s, &Question::default(), None, above).await
}

/// Saves `op`, reloads, and shows the report above the Relay screen; a
/// refusal shows its sentence next to the add field.
async fn applied(c: &Console, s: &Session, ip: std::net::IpAddr, op: EditOp) -> Response {
    match config_edit(c, &s.admin, ip, op).await {
        Ok((edited, reload)) => {
            let above = change_report(&edited, &reload);
            relay_screen(c, s, &Question::default(), None, above).await
        }
        Err(e) => refused(c, s, "", e.message()).await,
    }
}
