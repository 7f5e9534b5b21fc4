//! `[limits]` and `[queue]`: every count and duration has a range, so that a
//! typo cannot disable a limit or overflow the server's time arithmetic.

use super::super::defaults;
use super::super::error::ConfigError;
use super::super::raw::{RawLimits, RawQueue};
use super::super::{Limits, Queue};
use super::Ctx;

/// Longest accepted session timeout: a deadline further away than a day is a
/// mistake, and huge values would overflow `Instant` arithmetic in the server.
const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Most inbound connections `limits.connections` and
/// `limits.connections_per_client` accept (far beyond any file descriptor limit).
const MAX_INBOUND_CONNECTIONS: u64 = 1_000_000;
/// Most `limits.password_checks` accepts (each may hold 19 MiB).
const MAX_PASSWORD_CHECKS: u64 = 1_024;
/// Most `limits.connection_rate` accepts (per minute).
const MAX_CONNECTION_RATE: u64 = 1_000_000;
/// Longest `limits.greeting_delay_ms` (a minute: RFC 5321 §4.5.3.2 gives
/// clients 5 minutes for the greeting, but delaying every client long is a mistake).
const MAX_GREETING_DELAY_MS: i64 = 60_000;
/// Most outbound connections at once (file descriptors are finite).
const MAX_OUTBOUND_CONNECTIONS: u64 = 10_000;
/// Longest accepted queue lifetime and retry interval (100 days): beyond
/// that a message is lost in practice, and the sum must not overflow.
const MAX_QUEUE_SECS: u64 = 100 * 86_400;

/// `[limits]`, checked in file order so the first bad key is the one named.
pub(super) fn limits(ctx: &Ctx<'_>, raw: RawLimits) -> Result<Limits, ConfigError> {
    let usize_max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
    let u32_max = u64::from(u32::MAX);
    let connections = ctx.size(
        "limits.connections",
        raw.connections,
        defaults::CONNECTIONS,
        MAX_INBOUND_CONNECTIONS,
    )?;
    let connections_reserved = reserved_connections(ctx, raw.connections_reserved, connections)?;
    let password_checks = whole(
        ctx,
        "limits.password_checks",
        raw.password_checks,
        0,
        MAX_PASSWORD_CHECKS,
    )?;
    let password_checks_waiting = whole(
        ctx,
        "limits.password_checks_waiting",
        raw.password_checks_waiting,
        defaults::PASSWORD_CHECKS_WAITING,
        MAX_INBOUND_CONNECTIONS,
    )?;
    Ok(Limits {
        connections,
        connections_reserved,
        password_checks,
        password_checks_waiting,
        message_size: ctx.positive(
            "limits.message_size",
            raw.message_size,
            defaults::MESSAGE_SIZE,
            u64::MAX,
        )?,
        recipients: ctx.size(
            "limits.recipients",
            raw.recipients,
            defaults::RECIPIENTS,
            usize_max,
        )?,
        max_hops: ctx.size(
            "limits.max_hops",
            raw.max_hops,
            defaults::MAX_HOPS,
            usize_max,
        )?,
        errors: ctx.small("limits.errors", raw.errors, defaults::ERRORS, u32_max)?,
        command_timeout: ctx.positive(
            "limits.command_timeout",
            raw.command_timeout,
            defaults::COMMAND_TIMEOUT,
            MAX_TIMEOUT_SECS,
        )?,
        data_timeout: ctx.positive(
            "limits.data_timeout",
            raw.data_timeout,
            defaults::DATA_TIMEOUT,
            MAX_TIMEOUT_SECS,
        )?,
        outbound_connections: ctx.size(
            "limits.outbound_connections",
            raw.outbound_connections,
            defaults::OUTBOUND_CONNECTIONS,
            MAX_OUTBOUND_CONNECTIONS,
        )?,
        outbound_per_destination: ctx.size(
            "limits.outbound_per_destination",
            raw.outbound_per_destination,
            defaults::OUTBOUND_PER_DESTINATION,
            MAX_OUTBOUND_CONNECTIONS,
        )?,
        connections_per_client: ctx.size(
            "limits.connections_per_client",
            raw.connections_per_client,
            defaults::CONNECTIONS_PER_CLIENT,
            MAX_INBOUND_CONNECTIONS,
        )?,
        connection_rate: ctx.small(
            "limits.connection_rate",
            raw.connection_rate,
            defaults::CONNECTION_RATE,
            MAX_CONNECTION_RATE,
        )?,
        commands_before_mail: ctx.small(
            "limits.commands_before_mail",
            raw.commands_before_mail,
            defaults::COMMANDS_BEFORE_MAIL,
            u32_max,
        )?,
        session_time: ctx.positive(
            "limits.session_time",
            raw.session_time,
            defaults::SESSION_TIME,
            MAX_TIMEOUT_SECS,
        )?,
        greeting_delay_ms: greeting_delay(ctx, raw.greeting_delay_ms)?,
    })
}

impl Ctx<'_> {
    /// A positive limit counted in `usize` (saturated).
    fn size(
        &self,
        key: &str,
        value: Option<i64>,
        default: u64,
        max: u64,
    ) -> Result<usize, ConfigError> {
        self.positive(key, value, default, max)
            .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
    }

    /// A positive limit counted in `u32` (saturated).
    fn small(
        &self,
        key: &str,
        value: Option<i64>,
        default: u64,
        max: u64,
    ) -> Result<u32, ConfigError> {
        self.positive(key, value, default, max)
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
    }
}

/// `limits.greeting_delay_ms`: 0 (the default) to [`MAX_GREETING_DELAY_MS`].
fn greeting_delay(ctx: &Ctx<'_>, value: Option<i64>) -> Result<u64, ConfigError> {
    match value {
        None => Ok(0),
        Some(v) if (0..=MAX_GREETING_DELAY_MS).contains(&v) => Ok(v.unsigned_abs()),
        Some(v) => Err(ctx.invalid(
            "limits.greeting_delay_ms",
            v.to_string(),
            format!("must be a whole number from 0 to {MAX_GREETING_DELAY_MS}"),
        )),
    }
}

/// `limits.connections_reserved`: 10 % of `connections` when absent; it
/// must leave at least one slot for everyone else.
fn reserved_connections(
    ctx: &Ctx<'_>,
    value: Option<i64>,
    connections: usize,
) -> Result<usize, ConfigError> {
    let key = "limits.connections_reserved";
    let Some(v) = value else {
        let share =
            u64::try_from(connections).unwrap_or(u64::MAX) / defaults::CONNECTIONS_RESERVED_DIVISOR;
        return Ok(usize::try_from(share).unwrap_or(usize::MAX));
    };
    match usize::try_from(v) {
        Ok(n) if n < connections => Ok(n),
        _ => Err(ctx.invalid(
            key,
            v.to_string(),
            format!(
                "must be a whole number from 0 to {} (less than limits.connections)",
                connections - 1
            ),
        )),
    }
}

/// A whole number from 0 to `max` (`default` when absent).
fn whole(
    ctx: &Ctx<'_>,
    key: &str,
    value: Option<i64>,
    default: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let v = match value {
        None => default,
        Some(v) => match u64::try_from(v) {
            Ok(n) if n <= max => n,
            _ => {
                return Err(ctx.invalid(
                    key,
                    v.to_string(),
                    format!("must be a whole number from 0 to {max}"),
                ))
            }
        },
    };
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

/// `[queue]`: positive durations, `retry_max >= retry_min`, a real port.
pub(super) fn queue(ctx: &Ctx<'_>, raw: RawQueue) -> Result<Queue, ConfigError> {
    let lifetime = ctx.positive(
        "queue.lifetime",
        raw.lifetime,
        defaults::QUEUE_LIFETIME,
        MAX_QUEUE_SECS,
    )?;
    let retry_min = ctx.positive(
        "queue.retry_min",
        raw.retry_min,
        defaults::QUEUE_RETRY_MIN,
        MAX_QUEUE_SECS,
    )?;
    let retry_max = ctx.positive(
        "queue.retry_max",
        raw.retry_max,
        defaults::QUEUE_RETRY_MAX.max(retry_min),
        MAX_QUEUE_SECS,
    )?;
    if retry_max < retry_min {
        return Err(ctx.invalid(
            "queue.retry_max",
            retry_max.to_string(),
            format!("must be at least queue.retry_min ({retry_min})"),
        ));
    }
    let delay_warning = match raw.delay_warning {
        None => defaults::QUEUE_DELAY_WARNING,
        Some(v) if (0..=i64::try_from(MAX_QUEUE_SECS).unwrap_or(i64::MAX)).contains(&v) => {
            v.unsigned_abs()
        }
        Some(v) => {
            return Err(ctx.invalid(
                "queue.delay_warning",
                v.to_string(),
                format!("must be from 0 (never) to {MAX_QUEUE_SECS} seconds"),
            ))
        }
    };
    let mx_port = ctx.positive(
        "queue.mx_port",
        raw.mx_port,
        u64::from(defaults::QUEUE_MX_PORT),
        u64::from(u16::MAX),
    )?;
    let mta_sts_port = ctx.positive(
        "queue.mta_sts_port",
        raw.mta_sts_port,
        u64::from(defaults::QUEUE_MTA_STS_PORT),
        u64::from(u16::MAX),
    )?;
    Ok(Queue {
        lifetime,
        retry_min,
        retry_max,
        delay_warning,
        mx_port: u16::try_from(mx_port).unwrap_or(defaults::QUEUE_MX_PORT),
        mta_sts_port: u16::try_from(mta_sts_port).unwrap_or(defaults::QUEUE_MTA_STS_PORT),
    })
}
