//! The Users and admins screen: add, remove, reset a password, grant or
//! revoke the admin right.

use maud::{html, Markup};

use super::layout::csrf_field;

/// One user as the screen lists it.
pub(crate) struct UserRow {
    /// The user's name.
    pub(crate) name: String,
    /// Whether the user may log in to the console and API.
    pub(crate) admin: bool,
}

/// A refused form: which form (the user's name, or "" for the add form),
/// and the admin API's sentence.
pub(crate) struct Refusal<'a> {
    /// The user the refused form was about ("" for the add form).
    pub(crate) user: &'a str,
    /// The sentence, shown next to that form's fields.
    pub(crate) sentence: &'a str,
    /// The name typed into the add form, kept there (never the password).
    pub(crate) typed_name: &'a str,
}

/// The Users screen's body. A row's Grant/Revoke and Remove buttons post
/// its name through one of three shared forms (the HTML `form` attribute),
/// which hold the CSRF token once: a form per button made 10,000 users a
/// 10 MB page. Only the password reset keeps a form per row, for its field.
pub(crate) fn users(csrf: &str, rows: &[UserRow], refusal: Option<&Refusal<'_>>) -> Markup {
    let error_for = |user: &str| refusal.filter(|r| r.user == user).map(|r| r.sentence);
    html! {
        form #add-user method="post" action="/console/users/add" {
            (csrf_field(csrf))
            label { "Name" input name="name" value=[refusal.filter(|r| r.user.is_empty()).map(|r| r.typed_name)] autocomplete="off" required; }
            label { "Password" input type="password" name="password" autocomplete="new-password" required; }
            label.switch { input type="checkbox" name="admin" value="on"; "Admin" }
            button type="submit" { "Add user" }
            @if let Some(sentence) = error_for("") { p.error.field-error role="alert" { (sentence) } }
        }
        form #grant method="post" action="/console/users/admin" {
            (csrf_field(csrf)) input type="hidden" name="admin" value="on";
        }
        form #revoke method="post" action="/console/users/admin" {
            (csrf_field(csrf)) input type="hidden" name="admin" value="off";
        }
        form #remove method="post" action="/console/users/remove" { (csrf_field(csrf)) }
        table.users {
            thead { tr { th { "User" } th { "Admin" } th { "Password" } th { } } }
            tbody {
                @for u in rows {
                    tr data-user=(u.name) {
                        td { (u.name) }
                        td {
                            (if u.admin { "yes " } else { "no " })
                            button type="submit" form=(if u.admin { "revoke" } else { "grant" })
                                name="name" value=(u.name) { (if u.admin { "Revoke" } else { "Grant" }) }
                        }
                        td {
                            form.inline method="post" action="/console/users/password" {
                                (csrf_field(csrf))
                                input type="hidden" name="name" value=(u.name);
                                input type="password" name="password" autocomplete="new-password" required aria-label=(format!("New password for {}", u.name));
                                button type="submit" { "Reset" }
                            }
                            @if let Some(sentence) = error_for(&u.name) { p.error.field-error role="alert" { (sentence) } }
                        }
                        td { button type="submit" form="remove" name="name" value=(u.name) { "Remove" } }
                    }
                }
            }
        }
    }
}
