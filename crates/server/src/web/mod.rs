//! The HTTPS side of `[admin] listen`: the listeners ([`listener`]), the
//! JSON API ([`api`]) and the console's pieces (`console/`, not routed yet).

pub(crate) mod api;
pub(crate) mod console;
pub(crate) mod listener;
