//! Who the mail is for: the users with their stored credentials
//! ([`users`]), the `[aliases]` and plus-addressing ([`aliases`]), and the
//! decision for one RCPT TO, local, relayed or refused ([`recipient`]); the
//! [`Directory`] trait through which the server reads all of it as one
//! [`Site`] and edits it, with its file backend ([`FileDirectory`]).
#![forbid(unsafe_code)]

pub mod aliases;
pub mod files;
pub mod recipient;
pub mod source;
pub mod users;

pub use files::FileDirectory;
pub use source::{
    is_directory_key, Directory, DirectoryError, Judge, SettingEdited, Site, UserEdit, Version,
};
