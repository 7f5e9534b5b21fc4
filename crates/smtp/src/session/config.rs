//! How a session behaves: the knobs the driver sets from `portcullis.toml`.

use std::time::Duration;

use crate::sasl::{Mechanism, Secret};

/// What to do with a bare LF (docs/reference.md §6, `smtp.bare_lf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BareLf {
    /// Store a bare LF in data as CRLF; accept a command ending in bare LF.
    #[default]
    Normalize,
    /// Reject a message containing a bare LF (`550 5.6.11`) and a command line ending in one (`500 5.5.2`).
    Reject,
}

/// Timeouts of RFC 5321 §4.5.3.2, configurable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for the next command (RFC: 5 minutes).
    pub command: Duration,
    /// Waiting for the next chunk of data inside DATA (RFC: 3 minutes).
    pub data_block: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(180),
        }
    }
}

/// Per-session settings, fixed when the session starts.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our name, for the greeting and EHLO reply.
    pub hostname: String,
    /// `limits.message_size` in bytes, advertised with SIZE.
    pub max_message_size: u64,
    /// `limits.recipients` per message.
    pub max_recipients: usize,
    /// Errors (4xx/5xx replies to commands) before `421 4.7.0` and close.
    pub max_errors: u32,
    /// `limits.commands_before_mail`: commands outside a mail transaction
    /// before `421 4.7.0` and close (see [`Session::commands_outside_transaction`]).
    pub max_commands_before_mail: u32,
    /// `smtp.bare_lf`: what a bare LF in a command line or in DATA means.
    pub bare_lf: BareLf,
    /// How long the client may stay silent.
    pub timeouts: Timeouts,
    /// STARTTLS may be offered (a certificate is loaded and TLS is not yet active).
    pub starttls: bool,
    /// The connection is already TLS (implicit TLS, port 465).
    pub tls_active: bool,
    /// Submission roles: MAIL/RCPT/DATA get `530 5.7.0` until AUTH succeeds.
    pub require_auth: bool,
    /// `auth.mechanisms`: the SASL mechanisms to offer, in advertising order
    /// (`SCRAM-SHA-256`, `CRAM-MD5`, `PLAIN`, `LOGIN`; case-insensitive;
    /// other names are ignored). Empty: no AUTH at all (`502 5.5.1`).
    pub auth_mechanisms: Vec<String>,
    /// `auth.plaintext_requires_tls`: PLAIN and LOGIN are neither advertised
    /// nor accepted (`538 5.7.11`) until the connection is under TLS.
    pub plaintext_requires_tls: bool,
    /// Fresh random bytes for this session, from which its CRAM-MD5
    /// challenges and SCRAM server nonces are drawn. The driver must give
    /// every session new ones from the OS RNG ([`Secret::random`], which the
    /// default does); a fixed value makes a test deterministic.
    pub random_seed: Secret,
    /// A server-wide secret, the same for every session: SCRAM keys for
    /// unknown users are derived from it, so the same unknown name always
    /// gets the same salt, as a real user does. The default is
    /// [`Secret::per_process`].
    pub auth_secret: Secret,
}

impl Default for SessionConfig {
    /// The docs/reference.md §2 defaults for a port-25 session on `localhost` without TLS:
    /// 25 MiB messages, 100 recipients, 20 errors (Postfix's hard error
    /// limit), 50 commands before MAIL, all four SASL mechanisms with PLAIN and LOGIN only under TLS,
    /// a fresh random seed and the per-process auth secret.
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".to_string(),
            max_message_size: 26_214_400,
            max_recipients: 100,
            max_errors: 20,
            max_commands_before_mail: 50,
            bare_lf: BareLf::default(),
            timeouts: Timeouts::default(),
            starttls: false,
            tls_active: false,
            require_auth: false,
            auth_mechanisms: Mechanism::ALL
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
            plaintext_requires_tls: true,
            random_seed: Secret::random(),
            auth_secret: Secret::per_process(),
        }
    }
}
