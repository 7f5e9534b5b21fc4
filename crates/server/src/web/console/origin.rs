//! The Origin check on every change: a POST is accepted only when the
//! browser says it came from this console's own origin.
//!
//! SameSite=Strict already keeps the session cookie off cross-site requests;
//! this check is the second lock, and it also refuses a request that names no
//! origin at all, since every browser we serve sends Origin (or at least
//! Referer) on a form POST.

/// Whether a change request comes from `https://{host}`, judged by its
/// `Origin` header or, when that is absent, its `Referer`. `host` is the
/// request's Host header (name and optional port), as the browser addressed
/// us.
pub(crate) fn same_origin(host: &str, origin: Option<&str>, referer: Option<&str>) -> bool {
    let expected = format!("https://{}", host.to_ascii_lowercase());
    match (origin, referer) {
        // "null" is what a sandboxed or privacy-redirected page sends: not us.
        (Some(origin), _) => origin.to_ascii_lowercase() == expected,
        (None, Some(referer)) => {
            let referer = referer.to_ascii_lowercase();
            referer == expected
                || referer
                    .strip_prefix(&expected)
                    .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
        }
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    const HOST: &str = "127.0.0.1:2580";

    #[test]
    fn the_consoles_own_origin_is_accepted() {
        assert!(same_origin(HOST, Some("https://127.0.0.1:2580"), None));
        assert!(same_origin(
            "Mail.Example.org",
            Some("https://mail.example.org"),
            None
        ));
    }

    #[test]
    fn a_foreign_origin_is_refused_even_with_our_referer() {
        for origin in [
            "https://evil.example",
            "http://127.0.0.1:2580",
            "https://127.0.0.1:2581",
            "https://127.0.0.1",
            "null",
            "",
        ] {
            assert!(
                !same_origin(HOST, Some(origin), Some("https://127.0.0.1:2580/relay")),
                "{origin}"
            );
        }
    }

    #[test]
    fn without_origin_the_referer_decides() {
        assert!(same_origin(
            HOST,
            None,
            Some("https://127.0.0.1:2580/relay")
        ));
        assert!(same_origin(HOST, None, Some("https://127.0.0.1:2580")));
        assert!(!same_origin(
            HOST,
            None,
            Some("https://127.0.0.1:25800/relay")
        ));
        assert!(!same_origin(
            HOST,
            None,
            Some("https://127.0.0.1:2580.evil.example/")
        ));
        assert!(!same_origin(
            HOST,
            None,
            Some("https://evil.example/?https://127.0.0.1:2580/")
        ));
    }

    #[test]
    fn a_request_naming_no_origin_is_refused() {
        assert!(!same_origin(HOST, None, None));
    }
}
