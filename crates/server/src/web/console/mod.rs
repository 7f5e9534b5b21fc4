//! The HTML console: server-side sessions, CSRF tokens and the Origin check
//! that guard every change, and the pages rendered on the server.

// The pieces below are used by the console's routes, which are merged into
// the HTTPS listener's router once that lands; until then only the tests use
// them.
#![allow(dead_code)]

pub(crate) mod assets;
pub(crate) mod audit;
pub(crate) mod cookie;
pub(crate) mod form;
pub(crate) mod guard;
pub(crate) mod headers;
pub(crate) mod origin;
pub(crate) mod pages;
pub(crate) mod session;
