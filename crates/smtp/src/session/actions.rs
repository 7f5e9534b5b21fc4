//! What the session hands its driver: the next [`Action`], with the
//! envelope of a message to store and the recipient to rule on.

use crate::address::{Mailbox, ReversePath};
use crate::command::MailParams;
use crate::sasl::AuthRequest;

/// One accepted message, ready to be stored: its envelope. The content
/// came before it as [`Action::MessageData`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Which transaction of the session it is: the same number as the
    /// [`RecipientCheck`]s of its recipients.
    pub transaction: u64,
    /// The EHLO/HELO argument.
    pub helo: String,
    /// True after EHLO (ESMTP), false after HELO.
    pub esmtp: bool,
    /// True when the session is under TLS.
    pub tls: bool,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
    /// The MAIL FROM path.
    pub mail_from: ReversePath,
    /// The MAIL FROM parameters.
    pub params: MailParams,
    /// Accepted recipients, in order, without duplicates.
    pub recipients: Vec<Mailbox>,
    /// Octets of content: the sum of the [`Action::MessageData`] lengths.
    pub size: u64,
}

/// A recipient the driver must rule on before the session replies to RCPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientCheck {
    /// Which transaction of the session (1, 2, ...) it belongs to: a ruling
    /// kept for an older one no longer counts.
    pub transaction: u64,
    /// The RCPT TO mailbox.
    pub mailbox: Mailbox,
    /// The transaction's MAIL FROM (for logs: it never decides relay, docs/reference.md §3).
    pub mail_from: ReversePath,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
}

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes (one or more complete replies) to the client.
    Send(Vec<u8>),
    /// Decide this recipient, then call [`Session::recipient_decision`](super::Session::recipient_decision).
    CheckRecipient(RecipientCheck),
    /// The next octets of the message being received: dot-unstuffed, every
    /// line ending in CRLF (without the terminating `.CRLF`). Append them to
    /// the message's spool file; the first one starts a new message.
    MessageData(Vec<u8>),
    /// The message whose content came so far is refused or abandoned (its
    /// refusal is among the replies): throw that content away.
    DiscardMessage,
    /// The content that came so far is a complete message: store it durably
    /// with this envelope, then call [`Session::message_stored`](super::Session::message_stored).
    StoreMessage(Message),
    /// Perform the TLS handshake now, then call [`Session::tls_established`](super::Session::tls_established).
    StartTls,
    /// Look up or verify credentials for an AUTH exchange (RFC 4954), then
    /// call [`Session::auth_answer`](super::Session::auth_answer) with the [`AuthAnswer`](crate::sasl::AuthAnswer) variant that
    /// matches the request: `Password` → `Verified`, `CramMd5` →
    /// `CramMd5Digest`, `ScramKeys` → `ScramKeys` (any request may get
    /// `Unavailable`). Nothing is read until it is answered.
    Authenticate(AuthRequest),
    /// Read more input (until [`Session::deadline`](super::Session::deadline)) and [`Session::feed`](super::Session::feed) it.
    NeedInput,
    /// Close the connection (everything to send has been returned already).
    Close,
}
