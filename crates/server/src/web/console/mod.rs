//! The HTML console: server-side sessions, CSRF tokens and the Origin check
//! that guard every change, and the pages rendered on the server.

mod actions;
pub(crate) mod assets;
pub(crate) mod audit;
mod change;
pub(crate) mod context;
pub(crate) mod cookie;
pub(crate) mod form;
pub(crate) mod guard;
pub(crate) mod headers;
pub(crate) mod origin;
pub(crate) mod pages;
mod relay_actions;
pub(crate) mod routes;
mod screens;
pub(crate) mod session;
mod settings;
