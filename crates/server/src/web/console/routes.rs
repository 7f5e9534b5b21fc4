//! The console's routes under `/console/`: login and logout, the static
//! stylesheet, and the screens and their forms, every one behind
//! [`guard::admit`]. Each change calls the admin API through the JSON
//! API's own helpers, so no rule lives here.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::change::Change;
use super::context::{forbidden, Console, Ctx};
use super::form::Form;
use super::guard::Refused;
use super::origin::same_origin;
use super::pages::login::login;
use super::session::SessionStore;
use super::{actions, assets, audit, cookie, relay_actions, screens, settings};
use crate::web::api::{auth, Api};

/// The console's routes; `/` sends a browser to the dashboard.
pub(crate) fn router(api: Api) -> Router {
    let console = Console {
        api,
        sessions: Arc::new(SessionStore::default()),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(screens::dashboard))
        .route("/console/login", get(login_page).post(log_in))
        .route("/console/logout", post(log_out))
        .route("/console/static/console.css", get(css))
        .route("/console/relay", get(screens::relay))
        .route("/console/relay/{action}", post(relay_actions::relay_post))
        .route("/console/users", get(screens::users))
        .route("/console/users/{action}", post(actions::users_post))
        .route("/console/queue", get(screens::queue))
        .route(
            "/console/queue/{action}",
            get(screens::queue_message).post(actions::queue_post),
        )
        .route("/console/decisions", get(screens::decisions))
        .route("/console/domains", get(screens::domains))
        .route(
            "/console/domains/{kind}/{action}",
            post(actions::domains_post),
        )
        .route("/console/settings", get(settings::settings))
        .route("/console/settings/{action}", post(settings::settings_post))
        .with_state(console)
}

async fn css() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        assets::CSS,
    )
        .into_response()
}

async fn login_page() -> Html<String> {
    Html(login(None, "").into_string())
}

/// Checks the password exactly as the API does (the same throttle, bans
/// and admin right), then starts a session and sets its cookie.
async fn log_in(State(c): State<Console>, ctx: Ctx, body: axum::body::Bytes) -> Response {
    let form = Form::parse(&body);
    let user = form.get("user").unwrap_or_default().trim().to_string();
    if !same_origin(
        ctx.host.as_deref().unwrap_or_default(),
        ctx.origin.as_deref(),
        ctx.referer.as_deref(),
    ) {
        return forbidden(Refused::ForeignOrigin.sentence());
    }
    let password = form.get("password").unwrap_or_default().to_string();
    match auth::login(&c.api, ctx.peer.0, user.clone(), password).await {
        Ok(admin) => {
            let (id, _) = c.sessions.create(&admin.name, Instant::now());
            audit::change(&admin.name, ctx.peer.0.ip(), "log in");
            ([(SET_COOKIE, cookie::set(&id))], Redirect::to("/console/")).into_response()
        }
        Err(e) => {
            audit::refused(Some(&user), ctx.peer.0.ip(), "log in", e.message());
            let status = e.status();
            (status, Html(login(Some(e.message()), &user).into_string())).into_response()
        }
    }
}

async fn log_out(State(c): State<Console>, change: Change) -> Response {
    let ctx = change.ctx;
    if let Some(id) = ctx.cookie.as_deref().and_then(cookie::session_id) {
        c.sessions.remove(id);
    }
    (
        [(SET_COOKIE, cookie::clear())],
        Redirect::to("/console/login"),
    )
        .into_response()
}
