//! AUTH as a client (RFC 4954) with PLAIN (RFC 4616) or LOGIN, for the
//! smarthost. The driver only starts it over TLS: both mechanisms send the
//! password itself. The password never appears in `Debug` output or errors.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::reply::Reply;

/// The mechanisms the client can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `AUTH PLAIN` with the initial response (RFC 4616).
    Plain,
    /// `AUTH LOGIN`: user name and password in two 334 rounds.
    Login,
}

impl AuthMechanism {
    /// The one to use among the server's offer: PLAIN (one round trip),
    /// else LOGIN; None when neither is offered.
    pub fn choose(offered: &[String]) -> Option<AuthMechanism> {
        let has = |m: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(m));
        if has("PLAIN") {
            Some(AuthMechanism::Plain)
        } else if has("LOGIN") {
            Some(AuthMechanism::Login)
        } else {
            None
        }
    }

    /// The mechanism's name.
    pub fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
        }
    }
}

/// What to do after a reply during AUTH.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Write these bytes (a credential: never log them), then read a reply.
    Send(Vec<u8>),
    /// `235`: authenticated.
    Done,
    /// The server refused (or said something out of turn); the reply says why.
    Failed(Reply),
}

impl std::fmt::Debug for AuthStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthStep::Send(_) => f.write_str("Send(<credentials>)"),
            AuthStep::Done => f.write_str("Done"),
            AuthStep::Failed(r) => f.debug_tuple("Failed").field(r).finish(),
        }
    }
}

/// One AUTH exchange.
pub struct AuthClient {
    mechanism: AuthMechanism,
    user: String,
    password: String,
    /// 334 challenges answered so far.
    rounds: u8,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl AuthClient {
    /// An exchange for `user` with `password`.
    pub fn new(mechanism: AuthMechanism, user: &str, password: &str) -> AuthClient {
        AuthClient {
            mechanism,
            user: user.to_string(),
            password: password.to_string(),
            rounds: 0,
        }
    }

    /// The command that starts the exchange.
    pub fn start(&self) -> Vec<u8> {
        match self.mechanism {
            AuthMechanism::Plain => {
                // RFC 4616 §2: authzid NUL authcid NUL passwd, empty authzid.
                let token = format!("\0{}\0{}", self.user, self.password);
                format!("AUTH PLAIN {}\r\n", B64.encode(token)).into_bytes()
            }
            AuthMechanism::Login => b"AUTH LOGIN\r\n".to_vec(),
        }
    }

    /// The next step after the server's `reply`.
    pub fn on_reply(&mut self, reply: &Reply) -> AuthStep {
        match reply.code {
            235 => AuthStep::Done,
            334 => {
                self.rounds += 1;
                let answer = match (self.mechanism, self.rounds) {
                    // RFC 4954 §4: a 334 after an initial response asks for
                    // nothing more; an empty answer lets the server conclude.
                    (AuthMechanism::Plain, 1) => String::new(),
                    (AuthMechanism::Login, 1) => B64.encode(&self.user),
                    (AuthMechanism::Login, 2) => B64.encode(&self.password),
                    // RFC 4954 §4: "*" cancels an exchange that goes on too long.
                    _ => "*".to_string(),
                };
                AuthStep::Send(format!("{answer}\r\n").into_bytes())
            }
            _ => AuthStep::Failed(reply.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply::plain(code, text)
    }

    #[test]
    fn plain_sends_the_rfc_4616_initial_response() {
        let c = AuthClient::new(AuthMechanism::Plain, "tim", "tanstaaftanstaaf");
        // RFC 4616 §4's example, without authzid.
        assert_eq!(c.start(), b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    }

    #[test]
    fn login_answers_user_then_password() {
        let mut c = AuthClient::new(AuthMechanism::Login, "alice", "s3cret");
        assert_eq!(c.start(), b"AUTH LOGIN\r\n");
        assert_eq!(
            c.on_reply(&reply(334, "VXNlcm5hbWU6")),
            AuthStep::Send(b"YWxpY2U=\r\n".to_vec())
        );
        assert_eq!(
            c.on_reply(&reply(334, "UGFzc3dvcmQ6")),
            AuthStep::Send(b"czNjcmV0\r\n".to_vec())
        );
        assert_eq!(c.on_reply(&reply(235, "ok")), AuthStep::Done);
        // A server that keeps asking gets the exchange cancelled.
        assert_eq!(
            c.on_reply(&reply(334, "")),
            AuthStep::Send(b"*\r\n".to_vec())
        );
    }

    #[test]
    fn a_refusal_ends_the_exchange() {
        let mut c = AuthClient::new(AuthMechanism::Plain, "a", "b");
        let no = Reply::new(535, (5, 7, 8), "bad credentials");
        assert_eq!(c.on_reply(&no), AuthStep::Failed(no.clone()));
    }

    #[test]
    fn plain_is_preferred_and_login_is_the_fallback() {
        let offer = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            AuthMechanism::choose(&offer(&["LOGIN", "PLAIN"])),
            Some(AuthMechanism::Plain)
        );
        assert_eq!(
            AuthMechanism::choose(&offer(&["CRAM-MD5", "login"])),
            Some(AuthMechanism::Login)
        );
        assert_eq!(AuthMechanism::choose(&offer(&["CRAM-MD5"])), None);
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let c = AuthClient::new(AuthMechanism::Login, "alice", "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        let step = AuthStep::Send(b"czNjcmV0\r\n".to_vec());
        assert!(!format!("{step:?}").contains("czNjcmV0"));
    }
}
