//! The console's routes under `/console/`: login and logout, the static
//! stylesheet, and the screens and their forms, every one behind
//! [`guard::admit`]. Each change calls the admin API through the JSON
//! API's own helpers, so no rule lives here.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, ORIGIN, REFERER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;

use super::form::Form;
use super::guard::{self, Refused};
use super::origin::same_origin;
use super::pages::layout::{page, Viewer};
use super::pages::login::login;
use super::session::{Session, SessionStore};
use super::{actions, assets, audit, cookie, relay_actions, screens};
use crate::web::api::{auth, Api};
use crate::web::listener::Peer;

/// What every console handler works with.
#[derive(Clone)]
pub(crate) struct Console {
    /// The JSON API's state: the server, its main loop, its config file.
    pub(crate) api: Api,
    /// The logged-in admins.
    pub(crate) sessions: Arc<SessionStore>,
}

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
        .with_state(console)
}

/// The request headers the gate reads, and the client.
pub(crate) struct Ctx {
    /// The client address.
    pub(crate) peer: Peer,
    cookie: Option<String>,
    host: Option<String>,
    origin: Option<String>,
    referer: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = *parts
            .extensions
            .get::<Peer>()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(Ctx {
            peer,
            cookie: header(COOKIE),
            host: header(HOST),
            origin: header(ORIGIN),
            referer: header(REFERER),
        })
    }
}

impl Ctx {
    /// The session of a page request, or the redirect to the login page.
    pub(crate) fn page(&self, c: &Console) -> Result<Session, Box<Response>> {
        self.admit(c, None)
    }

    /// The session of a change whose form is `form`, or the refusal.
    pub(crate) fn change(&self, c: &Console, form: &Form) -> Result<Session, Box<Response>> {
        self.admit(c, Some(form))
    }

    fn admit(&self, c: &Console, form: Option<&Form>) -> Result<Session, Box<Response>> {
        let req = guard::Request {
            change: form.is_some(),
            cookie: self.cookie.as_deref(),
            host: self.host.as_deref(),
            origin: self.origin.as_deref(),
            referer: self.referer.as_deref(),
            csrf: form.and_then(|f| f.get("csrf")),
        };
        guard::admit(&c.sessions, &req, Instant::now()).map_err(|refused| {
            Box::new(match refused {
                Refused::LogIn => Redirect::to("/console/login").into_response(),
                other => {
                    audit::refused(None, self.peer.0.ip(), "console request", other.sentence());
                    forbidden(other.sentence())
                }
            })
        })
    }
}

/// 403 with the sentence, as a page of its own.
fn forbidden(sentence: &str) -> Response {
    let body = maud::html! {
        (maud::DOCTYPE)
        html lang="en" { (super::pages::layout::head("Refused")) body { main { h1 { "Refused" } p.error role="alert" { (sentence) } } } }
    };
    (StatusCode::FORBIDDEN, Html(body.into_string())).into_response()
}

/// A screen inside the frame, for the admin of `session`.
pub(crate) fn screen(session: &Session, current: &str, title: &str, body: Markup) -> Response {
    let viewer = Viewer {
        admin: &session.admin,
        csrf: &session.csrf,
    };
    Html(page(&viewer, current, title, body).into_string()).into_response()
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

async fn log_out(State(c): State<Console>, ctx: Ctx, body: axum::body::Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(refused) = ctx.change(&c, &form) {
        return *refused;
    }
    if let Some(id) = ctx.cookie.as_deref().and_then(cookie::session_id) {
        c.sessions.remove(id);
    }
    (
        [(SET_COOKIE, cookie::clear())],
        Redirect::to("/console/login"),
    )
        .into_response()
}
