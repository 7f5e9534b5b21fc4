//! The HTTPS side of `[admin] listen`: the listeners ([`listener`]), the
//! JSON API ([`api`]) and the HTML console ([`console`]), one router.

pub(crate) mod api;
pub(crate) mod console;
pub(crate) mod listener;

use axum::Router;

/// Everything `[admin] listen` answers: the API under `/api/v1/`, the
/// console under `/console/`, a 404 naming anything else, and the security
/// headers on every answer.
pub(crate) fn router(api: api::Api) -> Router {
    api::router(api.clone())
        .merge(console::routes::router(api))
        .fallback(api::unknown)
        .layer(axum::middleware::map_response(api::secure_headers))
}
