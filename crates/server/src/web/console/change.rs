//! A console change (a POST): its form, read from the body, and the session
//! the gate admitted it for. One extractor, so every change handler starts
//! from an admitted change and the gate is never forgotten or repeated.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use super::context::{Console, Ctx};
use super::form::Form;
use super::session::Session;

/// An admitted change: the request's headers, its form and its session.
pub(crate) struct Change {
    pub(crate) ctx: Ctx,
    pub(crate) form: Form,
    pub(crate) session: Session,
}

impl FromRequest<Console> for Change {
    /// The login redirect or the refusal ([`Ctx::change`]).
    type Rejection = Response;

    async fn from_request(req: Request, c: &Console) -> Result<Change, Response> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, c)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = Bytes::from_request(Request::from_parts(parts, body), c)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&body);
        let session = ctx.change(c, &form).map_err(|refused| *refused)?;
        Ok(Change { ctx, form, session })
    }
}
