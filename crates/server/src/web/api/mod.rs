//! The JSON API under `/api/v1/` (docs/api.md): HTTP Basic for a user with
//! the admin right, over HTTPS only, never a cookie. Each endpoint decodes
//! its request, calls the one admin API (crate::admin) and encodes the
//! answer; the JSON shapes are the admin API's own types. A change is
//! applied at once, as `config …` then `reload` are, and logged with the
//! admin's name, the change and the client address.

pub(crate) mod auth;
pub(crate) mod config;
pub(crate) mod reply;
pub(crate) mod server_ops;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use tokio::sync::mpsc;

use super::console::headers::PAGE;
use crate::admin::server::MainLoop;
use crate::Shared;
use reply::ApiError;

/// What every handler works with.
#[derive(Clone)]
pub(crate) struct Api {
    /// The running server.
    pub(crate) shared: Arc<Shared>,
    /// Where reloads are carried out.
    pub(crate) main_loop: mpsc::Sender<MainLoop>,
    /// The configuration file `serve` runs from.
    pub(crate) config_path: Arc<PathBuf>,
}

/// The routes of `/api/v1/` (the fallback and the headers are added by
/// [`crate::web::router`], which merges them with the console's).
pub(crate) fn router(api: Api) -> Router {
    let v1 = Router::new()
        .route("/status", get(server_ops::status))
        .route("/config", get(config::read_all))
        .route("/config/{key}", get(config::read_key).put(config::set))
        .route("/config/{key}/add", post(config::add))
        .route("/config/{key}/remove", post(config::remove))
        .route("/check-relay", post(config::check_relay))
        .route("/users", get(users::list).post(users::add))
        .route("/users/{name}", delete(users::remove))
        .route("/queue", get(server_ops::queue))
        .route("/queue/flush", post(server_ops::flush))
        .route("/queue/{id}", delete(server_ops::delete))
        .route("/reload", post(server_ops::reload))
        .route("/decisions", get(server_ops::decisions));
    Router::new().nest("/api/v1", v1).with_state(api)
}

/// 404 naming the path.
pub(crate) async fn unknown(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
}

/// Answers carry configuration and queue contents: never cached, never
/// sniffed, never framed.
pub(crate) async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in PAGE {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// Runs an admin operation that reads or writes files (and may wait on a
/// lock or a password hash) off the async threads.
pub(crate) async fn blocking<T, F>(op: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, crate::admin::Error> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(op).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::from(crate::admin::Error::internal(format!(
            "the operation failed: {e}"
        )))),
    }
}
