//! LOGIN (draft-murchison-sasl-login): the server prompts `Username:` and
//! `Password:`, the client answers each; the driver verifies the password.
//!
//! An initial response is taken as the user name (§2.1 of the draft; what
//! Outlook and Thunderbird send).

use super::{normalize_user, AuthRequest, Failure, PasswordMechanism, Step};

/// The user-name prompt.
pub const USERNAME_PROMPT: &[u8] = b"Username:";
/// The password prompt.
pub const PASSWORD_PROMPT: &[u8] = b"Password:";

/// The server side of one LOGIN exchange.
#[derive(Debug, Default)]
pub struct Login {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Start,
    WantUser,
    WantPassword(String),
    WantVerdict(String),
    Done,
}

impl Login {
    /// A new exchange.
    pub fn new() -> Login {
        Login::default()
    }

    /// An initial response is the user name; without one the server asks.
    pub fn start(&mut self, initial: Option<Vec<u8>>) -> Step {
        if !matches!(self.state, State::Start) {
            return self.fail(Failure::Malformed("LOGIN exchange already started"));
        }
        match initial {
            Some(user) => self.user(user),
            None => {
                self.state = State::WantUser;
                Step::Challenge(USERNAME_PROMPT.to_vec())
            }
        }
    }

    /// The client's answer to the last prompt.
    pub fn respond(&mut self, response: Vec<u8>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::WantUser => self.user(response),
            State::WantPassword(user) => self.password(user, response),
            _ => self.fail(Failure::Malformed("Unexpected LOGIN response")),
        }
    }

    fn user(&mut self, user: Vec<u8>) -> Step {
        match String::from_utf8(user) {
            Ok(user) if !user.is_empty() && !user.contains('\0') => {
                self.state = State::WantPassword(normalize_user(&user));
                Step::Challenge(PASSWORD_PROMPT.to_vec())
            }
            _ => self.fail(Failure::Malformed("Malformed LOGIN user name")),
        }
    }

    fn password(&mut self, user: String, password: Vec<u8>) -> Step {
        match String::from_utf8(password) {
            Ok(password) if !password.is_empty() => {
                self.state = State::WantVerdict(user.clone());
                Step::Ask(AuthRequest::Password {
                    authzid: String::new(),
                    user,
                    password,
                })
            }
            _ => self.fail(Failure::Malformed("Malformed LOGIN password")),
        }
    }

    fn fail(&mut self, failure: Failure) -> Step {
        self.state = State::Done;
        Step::Failure(failure)
    }
}

impl PasswordMechanism for Login {
    fn take_user(&mut self) -> Option<String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::WantVerdict(user) => Some(user),
            _ => None,
        }
    }
}
