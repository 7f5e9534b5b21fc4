//! The HTTPS side of the admin console and API. The console's pieces live in
//! `console/`; the listener merges its routes.

pub(crate) mod console;
