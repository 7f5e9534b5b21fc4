//! The session cookie: how it is set, cleared and read back.

/// The cookie's name. The `__Host-` prefix makes the browser insist on
/// Secure, Path=/ and no Domain, so no other host can plant or read it.
pub(crate) const NAME: &str = "__Host-portcullis";

/// The Set-Cookie value for a new session. HttpOnly keeps it from scripts,
/// Secure from plain HTTP, SameSite=Strict from every cross-site request.
pub(crate) fn set(id: &str) -> String {
    format!("{NAME}={id}; Path=/; HttpOnly; Secure; SameSite=Strict")
}

/// The Set-Cookie value that removes the cookie (logout).
pub(crate) fn clear() -> String {
    format!("{NAME}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The session id from a request's Cookie header, if it carries ours.
pub(crate) fn session_id(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_secure_and_strict() {
        let c = set("abc");
        assert!(c.starts_with("__Host-portcullis=abc;"));
        for flag in ["Path=/", "HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(c.split("; ").any(|part| part == flag), "{flag} in {c}");
        }
        assert!(clear().contains("Max-Age=0"));
    }

    #[test]
    fn the_session_id_is_read_from_among_other_cookies() {
        assert_eq!(session_id("__Host-portcullis=abc"), Some("abc"));
        assert_eq!(session_id("a=1; __Host-portcullis=abc; b=2"), Some("abc"));
        assert_eq!(session_id("portcullis=abc"), None);
        assert_eq!(session_id("__Host-portcullis="), None);
        assert_eq!(session_id(""), None);
    }
}
