//! The login page: admin users only.

use maud::{html, Markup, DOCTYPE};

use super::layout::head;

/// The login form, with `error` (a refused login's sentence) above it.
pub(crate) fn login(error: Option<&str>, user: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login {
                main {
                    h1 { "Portcullis" }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    form method="post" action="/console/login" {
                        label { "User" input name="user" value=(user) autocomplete="username" required; }
                        label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
}
