//! What every console handler shares: its state, the gate each request
//! passes ([`guard::admit`] on the request's headers) and the frame a
//! screen is drawn in.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::Markup;
use portcullis_config::EditOp;

use super::audit;
use super::form::Form;
use super::guard::{self, Refused};
use super::pages::layout::{page, Viewer};
use super::session::{Session, SessionStore};
use crate::admin::config::Edited;
use crate::web::api::config::{apply_edit, describe};
use crate::web::api::reply::ApiError;
use crate::web::api::Api;
use crate::web::listener::Peer;

/// What every console handler works with.
#[derive(Clone)]
pub(crate) struct Console {
    /// The JSON API's state: the server, its main loop, its config file.
    pub(crate) api: Api,
    /// The logged-in admins.
    pub(crate) sessions: Arc<SessionStore>,
}

/// The request headers the gate reads, and the client.
pub(crate) struct Ctx {
    /// The client address.
    pub(crate) peer: Peer,
    /// The Cookie, Host, Origin and Referer headers.
    pub(crate) cookie: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) referer: Option<String>,
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
pub(crate) fn forbidden(sentence: &str) -> Response {
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

/// A configuration change made in the console: the API's own edit and
/// reload ([`apply_edit`]), logged under the console's target too.
pub(crate) async fn config_edit(
    c: &Console,
    admin: &str,
    client: IpAddr,
    op: EditOp,
) -> Result<(Edited, Result<Vec<String>, String>), ApiError> {
    let what = describe(&op);
    match apply_edit(&c.api, admin, client, op).await {
        Ok((edited, reload)) => {
            audit::change(admin, client, &what);
            Ok((edited, reload.map_err(|e| e.message)))
        }
        Err(e) => {
            audit::refused(Some(admin), client, &what, e.message());
            Err(e)
        }
    }
}
