//! HTTP Basic (RFC 7617) for the API: the user and password are checked as
//! SMTP AUTH checks them (the same credentials, the same password-check
//! threads, the same failure counts and bans), then the admin right. No
//! cookie is read or set: a browser session can never drive the API, so
//! the API needs no CSRF defence.

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use portcullis_relay::ReverseDns;
use portcullis_smtp::session::AuthOutcome;
use tracing::info;

use super::reply::ApiError;
use super::Api;
use crate::auth_guard::{self, AuthGuard};
use crate::web::listener::Peer;

/// An authenticated user with the admin right, and where the request came from.
pub(crate) struct Admin {
    /// The user name, lower-case.
    pub(crate) name: String,
    /// The client.
    pub(crate) peer: SocketAddr,
}

impl FromRequestParts<Api> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let peer =
            parts.extensions.get::<Peer>().map(|p| p.0).ok_or_else(|| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no client address")
            })?;
        let credentials = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(basic_credentials);
        let Some((user, password)) = credentials else {
            return Err(unauthorized(
                "this API needs the HTTP Basic credentials of a user with the admin right",
            ));
        };
        login(api, peer, user, password).await
    }
}

/// Checks the password (throttled like SMTP AUTH), then the admin right.
pub(crate) async fn login(
    api: &Api,
    peer: SocketAddr,
    user: String,
    password: String,
) -> Result<Admin, ApiError> {
    let shared = &api.shared;
    let ip = peer.ip();
    if auth_guard::banned(&shared.auth_throttle, ip).is_some() {
        info!(client = %ip, "admin API refused: address banned after too many AUTH failures");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{ip} is banned after too many authentication failures; try again later"),
        ));
    }
    if shared.freshness(SystemTime::now()).is_stale() {
        // Fail closed: the user may have lost the right in a directory
        // this node cannot reach.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the directory has not been confirmed for too long; logins are not checked",
        ));
    }
    let user = user.to_ascii_lowercase();
    let rt = shared.current.get();
    let verified = crate::password_gate::verify(shared, &rt, user.clone(), password)
        .await
        .map_err(|busy| {
            info!(reason = ?busy, "admin API password check not run: too many at once");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many password checks at once; try again shortly",
            )
        })?;
    let outcome = if verified {
        AuthOutcome::Succeeded { user: user.clone() }
    } else {
        AuthOutcome::Failed {
            user: Some(user.clone()),
        }
    };
    let guard = AuthGuard::new(&rt, ip, &ReverseDns::NotChecked);
    let after = guard.account(&shared.auth_throttle, std::iter::once(&outcome));
    if !verified {
        // The same delay an SMTP client would get for this failure.
        tokio::time::sleep(after.delay).await;
        return Err(unauthorized(&format!(
            "wrong user name or password for \"{user}\""
        )));
    }
    if !rt.site.site.users.is_admin(&user) {
        info!(user = %user, client = %ip, "admin API refused: not an admin");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "user \"{user}\" does not have the admin right (portcullis user admin {user} on)"
            ),
        ));
    }
    Ok(Admin { name: user, peer })
}

fn unauthorized(sentence: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, sentence)
}

/// The user and password of an `Authorization: Basic …` value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::basic_credentials;

    #[test]
    fn basic_credentials_are_user_colon_password_in_base64() {
        // RFC 7617 §2's example.
        assert_eq!(
            basic_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some(("Aladdin".into(), "open sesame".into()))
        );
        assert_eq!(
            basic_credentials("basic YTpiOmM="),
            Some(("a".into(), "b:c".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic YWJj", ""] {
            assert_eq!(basic_credentials(bad), None, "{bad}");
        }
    }
}
