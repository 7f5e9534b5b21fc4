//! The queue envelope: everything about a queued message except its bytes,
//! stored as JSON in `queue/<id>.env`.
//!
//! ```json
//! {
//!   "version": 1,
//!   "id": "0LZ3K9QX2A7F4B1C",
//!   "created": 1767225600,
//!   "sender": "alice@example.com",
//!   "recipients": [
//!     {"address": "bob@remote.example", "state": "pending", "attempts": 0,
//!      "last_error": null, "next_attempt": 1767225600}
//!   ],
//!   "helo": "client.example.com",
//!   "client_ip": "192.0.2.7",
//!   "auth_user": "alice",
//!   "body": "8bitmime",
//!   "smtputf8": false
//! }
//! ```
//!
//! Unknown fields are ignored and fields added later default, so a newer
//! minor addition needs no version bump; an incompatible change bumps
//! [`ENVELOPE_VERSION`], which older builds refuse to read.

use crate::clock::unix_now;
use std::net::IpAddr;

use portcullis_smtp::command::Body;
use serde::{Deserialize, Serialize};

/// The envelope format version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// A queued message's envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version ([`ENVELOPE_VERSION`]).
    pub version: u32,
    /// The queue id (also the file names' stem), see [`super::Spool::new_id`].
    pub id: String,
    /// When the message was accepted, in seconds since the Unix epoch.
    pub created: u64,
    /// The MAIL FROM address; `""` for the null sender `<>` (bounces).
    pub sender: String,
    /// One entry per recipient, in RCPT order.
    pub recipients: Vec<Recipient>,
    /// The client's EHLO/HELO argument (empty for locally generated mail).
    pub helo: String,
    /// The client's address (None for locally generated mail, e.g. bounces).
    pub client_ip: Option<IpAddr>,
    /// The SASL user of the session, if it authenticated.
    pub auth_user: Option<String>,
    /// The MAIL `BODY=` parameter (RFC 6152, RFC 3030).
    #[serde(default)]
    pub body: BodyType,
    /// Whether MAIL carried `SMTPUTF8` (RFC 6531).
    #[serde(default)]
    pub smtputf8: bool,
    /// Held by the administrator (`portcullis queue hold`): not delivered,
    /// nor bounced, until released.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// One recipient's delivery state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The address to deliver to (`local@domain`).
    pub address: String,
    /// Where delivery to this address stands.
    pub state: RecipientState,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The last failure (reply or local error), for `queue show` and bounces.
    pub last_error: Option<String>,
    /// When to try next, in seconds since the Unix epoch.
    pub next_attempt: u64,
    /// For a final local mailbox (aliases applied when the message was
    /// accepted): the user whose mailbox gets it. Delivered as it is, by
    /// LMTP to `address` or into that user's Maildir, never resolved again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
}

/// Where a recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Still to be delivered.
    Pending,
    /// Accepted by the next hop.
    Delivered,
    /// Permanently failed (5xx or retries exhausted).
    Failed,
}

/// The `BODY=` type, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyType {
    /// 7-bit ASCII (RFC 5321's default).
    #[default]
    #[serde(rename = "7bit")]
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152).
    #[serde(rename = "8bitmime")]
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030), sent with BDAT.
    #[serde(rename = "binarymime")]
    BinaryMime,
}

impl From<Body> for BodyType {
    fn from(body: Body) -> BodyType {
        match body {
            Body::SevenBit => BodyType::SevenBit,
            Body::EightBitMime => BodyType::EightBitMime,
            Body::BinaryMime => BodyType::BinaryMime,
        }
    }
}

impl Envelope {
    /// A fresh envelope created now: every recipient pending, due at once.
    pub fn new(
        id: String,
        sender: String,
        recipients: impl IntoIterator<Item = String>,
        helo: String,
        client_ip: Option<IpAddr>,
        auth_user: Option<String>,
    ) -> Envelope {
        let created = unix_now();
        Envelope {
            version: ENVELOPE_VERSION,
            id,
            created,
            sender,
            recipients: recipients
                .into_iter()
                .map(|address| Recipient {
                    address,
                    state: RecipientState::Pending,
                    attempts: 0,
                    last_error: None,
                    next_attempt: created,
                    mailbox: None,
                })
                .collect(),
            helo,
            client_ip,
            auth_user,
            body: BodyType::default(),
            smtputf8: false,
            held: false,
        }
    }

    /// The recipients still to be delivered.
    pub fn pending(&self) -> impl Iterator<Item = &Recipient> + '_ {
        self.recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
    }

    /// True when no recipient is pending (the message can leave the queue).
    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_field_names() {
        let mut env = Envelope::new(
            "0ABC".into(),
            "".into(),
            ["bob@remote.example".to_string()],
            "client.example".into(),
            Some("192.0.2.7".parse().unwrap()),
            None,
        );
        env.body = Body::EightBitMime.into();
        let json: serde_json::Value = serde_json::to_value(&env).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["sender"], "");
        assert_eq!(json["client_ip"], "192.0.2.7");
        assert_eq!(json["auth_user"], serde_json::Value::Null);
        assert_eq!(json["body"], "8bitmime");
        let rcpt = &json["recipients"][0];
        assert_eq!(rcpt["address"], "bob@remote.example");
        assert_eq!(rcpt["state"], "pending");
        assert_eq!(rcpt["attempts"], 0);
        assert_eq!(rcpt["next_attempt"], json["created"]);
    }

    #[test]
    fn missing_optional_fields_default_and_unknown_ones_are_ignored() {
        let json = r#"{"version":1,"id":"X1","created":5,"sender":"a@b",
            "recipients":[{"address":"c@d","state":"failed","attempts":3,
            "last_error":"550 5.1.1 no","next_attempt":9}],
            "helo":"h","client_ip":null,"auth_user":"alice","future_field":[1,2]}"#;
        let env: Envelope = serde_json::from_str(json).unwrap();
        assert_eq!(env.body, BodyType::SevenBit);
        assert!(!env.smtputf8);
        assert_eq!(env.recipients[0].state, RecipientState::Failed);
        assert!(env.is_done());
    }

    #[test]
    fn pending_and_done_follow_recipient_states() {
        let mut env = Envelope::new(
            "X".into(),
            "a@b".into(),
            ["c@d".to_string(), "e@f".to_string()],
            String::new(),
            None,
            None,
        );
        assert_eq!(env.pending().count(), 2);
        env.recipients[0].state = RecipientState::Delivered;
        assert!(!env.is_done());
        env.recipients[1].state = RecipientState::Failed;
        assert!(env.is_done());
    }
}
