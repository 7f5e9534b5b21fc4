//! The frame every console page shares: head, navigation, and the logout
//! form carrying the CSRF token.

use maud::{html, Markup, DOCTYPE};

/// The screens in the navigation, by path and title.
pub(crate) const SCREENS: &[(&str, &str)] = &[
    ("/console/", "Dashboard"),
    ("/console/relay", "Relay"),
    ("/console/users", "Users"),
    ("/console/domains", "Aliases, domains, routes"),
    ("/console/settings", "Settings"),
    ("/console/queue", "Queue"),
    ("/console/decisions", "Decisions"),
];

/// Who is looking at a page, for the navigation and its forms.
pub(crate) struct Viewer<'a> {
    /// The logged-in admin.
    pub(crate) admin: &'a str,
    /// The session's CSRF token, put into every form.
    pub(crate) csrf: &'a str,
}

/// The hidden field every change form carries.
pub(crate) fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A full page: `title`, the navigation with `current` marked, and `body`.
pub(crate) fn page(viewer: &Viewer<'_>, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header {
                    nav {
                        @for (path, name) in SCREENS {
                            @if *path == current {
                                a href=(path) aria-current="page" { (name) }
                            } @else {
                                a href=(path) { (name) }
                            }
                        }
                    }
                    form.logout method="post" action="/console/logout" {
                        (csrf_field(viewer.csrf))
                        span { (viewer.admin) }
                        button type="submit" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The `<head>`: the stylesheet and script are served from 'self'.
pub(crate) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — Portcullis" }
            link rel="stylesheet" href=(crate::web::console::assets::CSS_PATH);
        }
    }
}
