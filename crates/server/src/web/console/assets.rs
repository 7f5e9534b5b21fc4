//! Files the console serves from 'self', built into the binary: no npm and
//! no build step.

/// The stylesheet every page links.
pub(crate) const CSS: &str = include_str!("static/console.css");

/// The path pages link the stylesheet under.
pub(crate) const CSS_PATH: &str = "/console/static/console.css";
