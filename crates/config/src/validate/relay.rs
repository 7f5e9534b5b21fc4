//! `[relay]` and `[auth]`: who may relay, through which smarthost, and how
//! logins are offered and throttled.

use std::path::Path;

use portcullis_relay::parse_entry;

use super::super::defaults::{self, default_list};
use super::super::error::{quote, ConfigError};
use super::super::raw::{RawAuth, RawRelay};
use super::super::values::{parse_host_port, parse_mechanism, resolve_path};
use super::super::{Auth, Relay};
use super::{dedup, Ctx};

/// Largest accepted `auth.delay_after` / `auth.ban_after`.
const MAX_AUTH_FAILURES: u64 = 1_000_000;
/// Largest accepted `auth.delay_seconds`: the delay is capped at 30 s anyway.
const MAX_AUTH_DELAY_SECS: u64 = 30;
/// Largest accepted `auth.ban_seconds` / `auth.window_seconds` (30 days).
const MAX_AUTH_PERIOD_SECS: u64 = 30 * 86_400;

/// A count validated to at most [`MAX_AUTH_FAILURES`], which fits a `u32`.
fn count(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// `[relay]`; relative paths are resolved against the file at `path`.
pub(super) fn relay(
    ctx: &Ctx<'_>,
    raw: RawRelay,
    hostname: &str,
    path: &Path,
) -> Result<Relay, ConfigError> {
    let relay = Relay {
        local_only: raw.local_only.unwrap_or(false),
        restricted: raw.restricted.unwrap_or(true),
        // Entries are parsed by the relay module: a bad one is skipped and
        // logged there, never a reason to refuse the whole file (docs/reference.md §4).
        allow: raw
            .allow
            .unwrap_or_else(|| default_list("relay.allow", hostname))
            .into(),
        authenticated: raw.authenticated.unwrap_or(true),
        smarthost: raw
            .smarthost
            .map(|s| parse_host_port(&s).map_err(|r| ctx.invalid("relay.smarthost", quote(&s), r)))
            .transpose()?,
        smarthost_user: None,
        smarthost_password_file: None,
    };
    smarthost_auth(
        ctx,
        relay,
        &(raw.smarthost_user, raw.smarthost_password_file),
        path,
    )
}

/// `relay.smarthost_user` and `relay.smarthost_password_file`: both or
/// neither, and only with a smarthost.
fn smarthost_auth(
    ctx: &Ctx<'_>,
    mut relay: Relay,
    (user, password_file): &(Option<String>, Option<String>),
    path: &Path,
) -> Result<Relay, ConfigError> {
    if let Some(u) = user {
        ctx.nonempty("relay.smarthost_user", u, "\"portcullis\"")?;
        if u.chars().any(char::is_control) {
            return Err(ctx.invalid(
                "relay.smarthost_user",
                quote(u),
                "a user name has no control characters",
            ));
        }
        if relay.smarthost.is_none() {
            return Err(ctx.incomplete("relay.smarthost_user", u, "relay.smarthost"));
        }
        if password_file.is_none() {
            return Err(ctx.incomplete("relay.smarthost_user", u, "relay.smarthost_password_file"));
        }
    }
    if let Some(f) = password_file {
        ctx.nonempty("relay.smarthost_password_file", f, "\"smarthost.secret\"")?;
        if user.is_none() {
            return Err(ctx.incomplete("relay.smarthost_password_file", f, "relay.smarthost_user"));
        }
    }
    relay.smarthost_user = user.clone();
    relay.smarthost_password_file = password_file.as_deref().map(|f| resolve_path(path, f));
    Ok(relay)
}

/// `[auth]`: the mechanisms offered and the failed-login throttle.
pub(super) fn auth(ctx: &Ctx<'_>, raw: RawAuth, hostname: &str) -> Result<Auth, ConfigError> {
    Ok(Auth {
        mechanisms: match raw.mechanisms {
            Some(list) => dedup(
                ctx.each("auth.mechanisms", list, parse_mechanism)?
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            ),
            None => default_list("auth.mechanisms", hostname),
        },
        // Why the default is true: PLAIN and LOGIN send the password itself.
        plaintext_requires_tls: raw.plaintext_requires_tls.unwrap_or(true),
        delay_after: count(ctx.positive(
            "auth.delay_after",
            raw.delay_after,
            defaults::AUTH_DELAY_AFTER,
            MAX_AUTH_FAILURES,
        )?),
        delay_seconds: ctx.positive(
            "auth.delay_seconds",
            raw.delay_seconds,
            defaults::AUTH_DELAY_SECONDS,
            MAX_AUTH_DELAY_SECS,
        )?,
        ban_after: count(ctx.positive(
            "auth.ban_after",
            raw.ban_after,
            defaults::AUTH_BAN_AFTER,
            MAX_AUTH_FAILURES,
        )?),
        ban_seconds: ctx.positive(
            "auth.ban_seconds",
            raw.ban_seconds,
            defaults::AUTH_BAN_SECONDS,
            MAX_AUTH_PERIOD_SECS,
        )?,
        window_seconds: ctx.positive(
            "auth.window_seconds",
            raw.window_seconds,
            defaults::AUTH_WINDOW_SECONDS,
            MAX_AUTH_PERIOD_SECS,
        )?,
        // Why strict here, unlike relay.allow: a mistyped exemption would
        // silently let the operator's own address be banned, so the file is
        // refused with the entry named instead.
        never_ban: ctx.each("auth.never_ban", raw.never_ban.unwrap_or_default(), |v| {
            parse_entry(v)
                .map(|entry| entry.raw)
                .map_err(|e| e.kind.to_string())
        })?,
    })
}
