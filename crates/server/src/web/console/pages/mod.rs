//! The console's pages, rendered on the server with maud. Every page works
//! as plain HTML forms: no inline script or style, so the CSP can say
//! `script-src 'self'; style-src 'self'`.

pub(crate) mod dashboard;
pub(crate) mod decisions;
pub(crate) mod domains;
pub(crate) mod entry_page;
pub(crate) mod layout;
pub(crate) mod login;
pub(crate) mod preview;
pub(crate) mod queue;
pub(crate) mod relay;
pub(crate) mod report;
pub(crate) mod settings;
pub(crate) mod user_page;
pub(crate) mod users;

#[cfg(test)]
mod tests;
