//! The security headers on every console response.

/// Scripts, styles and images from this origin only, no framing, no plugin
/// content, and forms that post only back here.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every console page carries. Pages show configuration and
/// are only for the logged-in admin, so none of them is cached.
pub(crate) const PAGE: &[(&str, &str)] = &[
    ("content-security-policy", CSP),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];
