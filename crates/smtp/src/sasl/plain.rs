//! PLAIN (RFC 4616): one message `[authzid] NUL authcid NUL passwd`,
//! verified by the driver against the stored password hash.

use super::{authzid_allowed, normalize_user, AuthRequest, Failure, PasswordMechanism, Step};

/// The server side of one PLAIN exchange.
#[derive(Debug, Default)]
pub struct Plain {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Start,
    /// The empty challenge was sent; the message comes next.
    WantMessage,
    /// The driver verifies the password of this user.
    WantVerdict(String),
    Done,
}

impl Plain {
    /// A new exchange.
    pub fn new() -> Plain {
        Plain::default()
    }

    /// With an initial response, that is the message; without one, the
    /// server sends an empty challenge (RFC 4954 §4: `334 ` then the message).
    pub fn start(&mut self, initial: Option<Vec<u8>>) -> Step {
        if !matches!(self.state, State::Start) {
            return self.fail(Failure::Malformed("PLAIN exchange already started"));
        }
        match initial {
            Some(message) => self.message(&message),
            None => {
                self.state = State::WantMessage;
                Step::Challenge(Vec::new())
            }
        }
    }

    /// The client's response: the PLAIN message.
    pub fn respond(&mut self, response: Vec<u8>) -> Step {
        match self.state {
            State::WantMessage => self.message(&response),
            _ => self.fail(Failure::Malformed("Unexpected PLAIN response")),
        }
    }

    fn message(&mut self, message: &[u8]) -> Step {
        let (authzid, user, password) = match parse(message) {
            Ok(parts) => parts,
            Err(failure) => return self.fail(failure),
        };
        if !authzid_allowed(&authzid, &user) {
            return self.fail(Failure::Credentials);
        }
        let user = normalize_user(&user);
        self.state = State::WantVerdict(user.clone());
        Step::Ask(AuthRequest::Password {
            authzid: normalize_user(&authzid),
            user,
            password,
        })
    }

    fn fail(&mut self, failure: Failure) -> Step {
        self.state = State::Done;
        Step::Failure(failure)
    }
}

impl PasswordMechanism for Plain {
    fn take_user(&mut self) -> Option<String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::WantVerdict(user) => Some(user),
            _ => None,
        }
    }
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, each
/// part UTF-8 without NUL, authcid and passwd not empty.
fn parse(message: &[u8]) -> Result<(String, String, String), Failure> {
    let malformed =
        Failure::Malformed("Malformed PLAIN message: expected authzid NUL user NUL password");
    let parts: Vec<&[u8]> = message.split(|&b| b == 0).collect();
    let [authzid, user, password] = parts[..] else {
        return Err(malformed);
    };
    if user.is_empty() || password.is_empty() {
        return Err(malformed);
    }
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Failure::Malformed("Malformed PLAIN message: not UTF-8"))
    };
    Ok((text(authzid)?, text(user)?, text(password)?))
}
