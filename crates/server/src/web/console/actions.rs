//! The console's changes to users, the queue and the domains screen (POST):
//! each passes the gate, calls the admin API as the JSON API does, and
//! shows the result, or the refusal sentence next to the field it is about.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::audit;
use super::change::Change;
use super::context::{config_edit, Console};
use super::form::{domain_edit, Form};
use super::pages::domains::Refusal as DomainRefusal;
use super::pages::report::change_report;
use super::pages::user_page::UserView;
use super::pages::users::Refusal;
use super::screens::{domains_screen, queue_screen, users_screen};
use super::session::Session;
use crate::admin;
use crate::admin::queue::{QueueId, QueueOp, QueueOutput};
use crate::admin::users::NewUser;
use crate::web::api::reply::ApiError;
use crate::web::api::{blocking, server_ops};

/// What a users form did: a sentence for the box on top.
async fn user_change(c: &Console, action: &str, form: &Form) -> Result<String, ApiError> {
    let path = c.api.config_path.clone();
    let name = form
        .required("name")
        .map_err(ApiError::bad_input)?
        .to_string();
    match action {
        "add" => {
            let user = NewUser {
                name,
                password: form.get("password").unwrap_or_default().to_string(),
                weak: false,
                admin: form.checked("admin"),
            };
            let added = blocking(move || admin::users::add(&path, user)).await?;
            Ok(format!("added user {}", added.name))
        }
        "remove" => {
            let removed = blocking(move || admin::users::remove(&path, &name)).await?;
            c.sessions.remove_admin(&removed.name);
            Ok(format!("removed user {}", removed.name))
        }
        "admin" => {
            let on = form.checked("admin");
            let stored = blocking(move || admin::users::set_admin(&path, &name, on)).await?;
            if !on {
                c.sessions.remove_admin(&stored);
            }
            Ok(format!(
                "{stored}: admin right {}",
                if on { "granted" } else { "revoked" }
            ))
        }
        "password" => {
            let password = form.get("password").unwrap_or_default().to_string();
            let stored =
                blocking(move || admin::users::set_password(&path, &name, &password, false))
                    .await?;
            Ok(format!("{stored}: password changed"))
        }
        other => Err(ApiError::not_found(format!(
            "unknown users action \"{other}\""
        ))),
    }
}

/// `POST /console/users/{add,remove,admin,password}`.
pub(crate) async fn users_post(
    State(c): State<Console>,
    Path(action): Path<String>,
    change: Change,
) -> Response {
    let Change { ctx, form, session } = change;
    let what = format!("user {action} {}", form.get("name").unwrap_or_default());
    match user_change(&c, &action, &form).await {
        Ok(done) => {
            audit::change(&session.admin, ctx.peer.0.ip(), &what);
            let above = html! { section.report role="status" { p { (done) } } };
            users_screen(&c, &session, &UserView::default(), None, above).await
        }
        Err(e) => {
            audit::refused(Some(&session.admin), ctx.peer.0.ip(), &what, e.message());
            // The add form's error sits under the add form; the others
            // under the row of the user they name.
            let user = if action == "add" {
                ""
            } else {
                form.get("name").unwrap_or_default()
            };
            let refusal = Refusal {
                user,
                sentence: e.message(),
                typed_name: form.get("name").unwrap_or_default(),
            };
            // The refused row is shown: the view filters on its user.
            let view = if user.is_empty() {
                UserView::default()
            } else {
                UserView::of_user(user)
            };
            let page = users_screen(&c, &session, &view, Some(&refusal), html! {}).await;
            (e.status(), page).into_response()
        }
    }
}

/// `POST /console/queue/{flush,delete}`.
pub(crate) async fn queue_post(
    State(c): State<Console>,
    Path(action): Path<String>,
    change: Change,
) -> Response {
    let Change { ctx, form, session } = change;
    let op = match action.as_str() {
        "flush" => Ok(QueueOp::Flush),
        "delete" => QueueId::parse(form.get("id").unwrap_or_default())
            .map(|id| QueueOp::Delete { id })
            .map_err(ApiError::from),
        other => Err(ApiError::not_found(format!(
            "unknown queue action \"{other}\""
        ))),
    };
    let what = format!("queue {action}");
    let result = match op {
        Ok(op) => server_ops::queue_op(&c.api, op).await,
        Err(e) => Err(e),
    };
    let (status, above) = match result {
        Ok(output) => {
            audit::change(&session.admin, ctx.peer.0.ip(), &what);
            (
                StatusCode::OK,
                html! { section.report role="status" { p { (said(&output)) } } },
            )
        }
        Err(e) => {
            audit::refused(Some(&session.admin), ctx.peer.0.ip(), &what, e.message());
            (e.status(), html! { p.error role="alert" { (e.message()) } })
        }
    };
    (status, queue_screen(&c, &session, above).await).into_response()
}

fn said(output: &QueueOutput) -> String {
    match output {
        QueueOutput::Flushed { due, held, .. } => {
            format!("Flushed: {due} messages will be tried now ({held} held)")
        }
        QueueOutput::Deleted(id) => format!("Deleted {}", id.as_str()),
        other => format!("{other:?}"),
    }
}

/// `POST /console/domains/{domain,alias,route}/{add,remove}`.
pub(crate) async fn domains_post(
    State(c): State<Console>,
    Path((kind, action)): Path<(String, String)>,
    change: Change,
) -> Response {
    let Change { ctx, form, session } = change;
    let ip = ctx.peer.0.ip();
    let op = match domain_edit(&kind, &action, &form) {
        Ok(op) => op,
        Err(sentence) => {
            return domain_refused(
                &c,
                &session,
                &kind,
                &form,
                &sentence,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    match config_edit(&c, &session.admin, ip, op).await {
        Ok((edited, reload)) => {
            domains_screen(&c, &session, None, change_report(&edited, &reload)).await
        }
        Err(e) => domain_refused(&c, &session, &kind, &form, e.message(), e.status()).await,
    }
}

/// The domains screen with `sentence` under the `kind` form, which keeps
/// what was typed into it.
async fn domain_refused(
    c: &Console,
    session: &Session,
    kind: &str,
    form: &Form,
    sentence: &str,
    status: StatusCode,
) -> Response {
    let refusal = DomainRefusal {
        form: kind,
        sentence,
        name: form.get("name").unwrap_or_default(),
        value: form.get("value").unwrap_or_default(),
    };
    let page = domains_screen(c, session, Some(&refusal), html! {}).await;
    (status, page).into_response()
}
