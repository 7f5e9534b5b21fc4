//! Who the mail is for: the users with their stored credentials
//! ([`users`]), the `[aliases]` and plus-addressing ([`aliases`]), and the
//! decision for one RCPT TO, local, relayed or refused ([`recipient`]).
#![forbid(unsafe_code)]

pub mod aliases;
pub mod recipient;
pub mod users;
