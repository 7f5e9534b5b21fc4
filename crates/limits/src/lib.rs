//! Abuse limits, pure counters with `now` passed in: connections in total
//! and per client, connection rate and session lifetime ([`limiter`]), and
//! the AUTH brute-force defence with its delays and bans
//! ([`auth_throttle`]).
#![forbid(unsafe_code)]

pub mod auth_throttle;
pub mod limiter;
