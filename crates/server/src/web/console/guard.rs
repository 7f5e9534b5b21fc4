//! The gate every console request passes: a live session for a page, and
//! for a change also the session's CSRF token and our own Origin.
//!
//! It is a pure function of the request's headers and form so that every
//! refusal is a plain test; the router calls it and turns its answer into a
//! redirect to the login page or a 403.

use std::time::Instant;

use super::cookie;
use super::origin::same_origin;
use super::session::{csrf_matches, Session, SessionStore};

/// The parts of a request the gate looks at.
pub(crate) struct Request<'a> {
    /// Whether the request changes something (a POST).
    pub(crate) change: bool,
    /// The Cookie header.
    pub(crate) cookie: Option<&'a str>,
    /// The Host header.
    pub(crate) host: Option<&'a str>,
    /// The Origin header.
    pub(crate) origin: Option<&'a str>,
    /// The Referer header.
    pub(crate) referer: Option<&'a str>,
    /// The form's `csrf` field.
    pub(crate) csrf: Option<&'a str>,
}

/// Why a request is turned away.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No live session: send the browser to the login page.
    LogIn,
    /// A change without our Origin (403).
    ForeignOrigin,
    /// A change without the session's CSRF token (403).
    BadCsrf,
}

impl Refused {
    /// The sentence shown and logged with a 403.
    pub(crate) fn sentence(&self) -> &'static str {
        match self {
            Refused::LogIn => "log in first",
            Refused::ForeignOrigin => "refused: the request does not come from this console's own page (Origin/Referer)",
            Refused::BadCsrf => "refused: the form's CSRF token is missing or is not this session's; reload the page and try again",
        }
    }
}

/// Lets the request through with its session, or says why not. The Origin
/// is checked before the session is looked up, so a cross-site request
/// learns nothing about whether a session exists.
pub(crate) fn admit(
    store: &SessionStore,
    req: &Request<'_>,
    now: Instant,
) -> Result<Session, Refused> {
    if req.change && !same_origin(req.host.unwrap_or_default(), req.origin, req.referer) {
        return Err(Refused::ForeignOrigin);
    }
    let session = req
        .cookie
        .and_then(cookie::session_id)
        .and_then(|id| store.touch(id, now))
        .ok_or(Refused::LogIn)?;
    if req.change && !csrf_matches(&session, req.csrf) {
        return Err(Refused::BadCsrf);
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "127.0.0.1:2580";
    const ORIGIN: &str = "https://127.0.0.1:2580";

    fn logged_in() -> (SessionStore, String, Session) {
        let store = SessionStore::default();
        let (id, session) = store.create("alice", Instant::now());
        let cookie = format!("{}={id}", cookie::NAME);
        (store, cookie, session)
    }

    fn post<'a>(cookie: &'a str, origin: Option<&'a str>, csrf: Option<&'a str>) -> Request<'a> {
        Request {
            change: true,
            cookie: Some(cookie),
            host: Some(HOST),
            origin,
            referer: None,
            csrf,
        }
    }

    #[test]
    fn a_change_with_session_origin_and_token_is_admitted() {
        let (store, cookie, session) = logged_in();
        let req = post(&cookie, Some(ORIGIN), Some(&session.csrf));
        assert_eq!(admit(&store, &req, Instant::now()), Ok(session));
    }

    #[test]
    fn a_change_without_the_token_or_with_anothers_is_refused() {
        let (store, cookie, _) = logged_in();
        let now = Instant::now();
        assert_eq!(
            admit(&store, &post(&cookie, Some(ORIGIN), None), now),
            Err(Refused::BadCsrf)
        );
        let (_, other) = store.create("alice", now);
        let req = post(&cookie, Some(ORIGIN), Some(&other.csrf));
        assert_eq!(admit(&store, &req, now), Err(Refused::BadCsrf));
    }

    #[test]
    fn a_cross_site_change_is_refused_even_with_the_token() {
        let (store, cookie, session) = logged_in();
        let now = Instant::now();
        let req = post(&cookie, Some("https://evil.example"), Some(&session.csrf));
        assert_eq!(admit(&store, &req, now), Err(Refused::ForeignOrigin));
        let req = post(&cookie, None, Some(&session.csrf));
        assert_eq!(admit(&store, &req, now), Err(Refused::ForeignOrigin));
    }

    #[test]
    fn pages_need_a_live_session_but_no_token() {
        let (store, cookie, session) = logged_in();
        let now = Instant::now();
        let get = |cookie| Request {
            change: false,
            cookie,
            host: Some(HOST),
            origin: None,
            referer: None,
            csrf: None,
        };
        assert_eq!(admit(&store, &get(Some(&cookie)), now), Ok(session));
        assert_eq!(admit(&store, &get(None), now), Err(Refused::LogIn));
        let forged = format!("{}=0000", cookie::NAME);
        assert_eq!(admit(&store, &get(Some(&forged)), now), Err(Refused::LogIn));
    }
}
