//! The one function that turns the raw file into a validated [`Config`]:
//! defaults filled in, notations parsed, relative paths resolved. A value that
//! fails here stops the load with one sentence naming the key and the value.
//!
//! [`validate`] reads the top-level keys and calls one function per section,
//! in file order, so the first bad value named is the same as before:
//! `listen.rs`, `relay.rs` (`[relay]`, `[auth]`), `limits.rs` (`[limits]`,
//! `[queue]`) and `sections.rs` (the small ones).

use std::path::Path;

use super::defaults::{self, default_list, system_hostname};
use super::error::{quote, ConfigError};
use super::raw::RawConfig;
use super::values::{parse_domain, resolve_path};
use super::Config;

mod limits;
mod listen;
mod relay;
mod sections;

/// Builds the error for `key = value` with `reason`.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn invalid(
        &self,
        key: &str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            key: key.to_string(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// `key = value` is given without the key it `needs`.
    fn incomplete(&self, key: &str, value: &str, needs: &str) -> ConfigError {
        ConfigError::Incomplete {
            file: self.file.to_string(),
            key: key.to_string(),
            value: quote(value),
            needs: needs.to_string(),
        }
    }

    /// Parses each string of a list, naming the first bad one.
    fn each<T>(
        &self,
        key: &str,
        values: Vec<String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        values
            .iter()
            .map(|v| parse(v).map_err(|reason| self.invalid(key, quote(v), reason)))
            .collect()
    }

    /// A limit: a whole number from 1 to `max`.
    fn positive(
        &self,
        key: &str,
        value: Option<i64>,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        if v <= 0 {
            return Err(self.invalid(key, v.to_string(), "must be a positive whole number"));
        }
        let v = v.unsigned_abs();
        if v > max {
            return Err(self.invalid(key, v.to_string(), format!("must be at most {max}")));
        }
        Ok(v)
    }

    fn nonempty(&self, key: &str, value: &str, example: &str) -> Result<(), ConfigError> {
        if value.trim().is_empty() {
            return Err(self.invalid(
                key,
                quote(value),
                format!("cannot be empty (e.g. {example})"),
            ));
        }
        Ok(())
    }
}

/// Validates the raw file read from `path` (named `file` in errors).
pub(crate) fn validate(raw: RawConfig, path: &Path, file: &str) -> Result<Config, ConfigError> {
    let ctx = Ctx { file };

    let hostname = match raw.hostname {
        Some(h) => parse_domain(&h).map_err(|reason| ctx.invalid("hostname", quote(&h), reason))?,
        None => system_hostname(),
    };

    let data_dir = raw
        .data_dir
        .unwrap_or_else(|| defaults::DATA_DIR.to_string());
    ctx.nonempty("data_dir", &data_dir, "\"./portcullis-data\"")?;
    let data_dir = resolve_path(path, &data_dir);
    let user = match raw.user {
        Some(u) => Some(parse_user(&u).map_err(|reason| ctx.invalid("user", quote(&u), reason))?),
        None => None,
    };

    let local_domains = match raw.local_domains {
        Some(list) => dedup(ctx.each("local_domains", list, parse_domain)?),
        None => default_list("local_domains", &hostname),
    };

    let listen = listen::listen(&ctx, raw.listen.unwrap_or_default(), &hostname)?;
    let relay = relay::relay(&ctx, raw.relay.unwrap_or_default(), &hostname, path)?;
    let auth = relay::auth(&ctx, raw.auth.unwrap_or_default(), &hostname)?;
    let tls = sections::tls(&ctx, raw.tls.unwrap_or_default(), path)?;
    let limits = limits::limits(&ctx, raw.limits.unwrap_or_default())?;
    let smtp = sections::smtp(&ctx, raw.smtp.unwrap_or_default())?;
    let inbound = sections::inbound(raw.inbound.unwrap_or_default());
    let dns = sections::dns(&ctx, raw.dns.unwrap_or_default())?;
    let log = sections::log(&ctx, raw.log.unwrap_or_default(), path)?;
    let delivery = sections::delivery(&ctx, raw.delivery.unwrap_or_default(), path)?;
    let queue = limits::queue(&ctx, raw.queue.unwrap_or_default())?;
    let aliases = sections::aliases(&ctx, raw.aliases.unwrap_or_default())?;
    let routes = sections::routes(&ctx, raw.routes.unwrap_or_default())?;
    let metrics = sections::metrics(&ctx, raw.metrics.unwrap_or_default())?;
    let admin = sections::admin(&ctx, raw.admin.unwrap_or_default(), &hostname)?;
    let dovecot = sections::dovecot(&ctx, raw.dovecot.unwrap_or_default(), path)?;
    let directory = sections::directory(&ctx, raw.directory.unwrap_or_default(), path)?;

    Ok(Config {
        path: path.to_path_buf(),
        hostname,
        data_dir,
        user,
        local_domains,
        listen,
        relay,
        auth,
        tls,
        limits,
        smtp,
        inbound,
        dns,
        log,
        delivery,
        aliases,
        queue,
        routes,
        metrics,
        admin,
        dovecot,
        directory,
    })
}

/// A system account name for `user` (the portable POSIX set, as useradd
/// takes it): lower-case letters, digits, `_` and `-`, not starting with a
/// digit or `-`, at most 32 characters.
fn parse_user(name: &str) -> Result<String, String> {
    let valid_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let valid_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if name.is_empty() || name.len() > 32 || !valid_first || !valid_rest {
        return Err(
            "is not a user name (lower-case letters, digits, _ and -, e.g. \"portcullis\")".into(),
        );
    }
    Ok(name.to_string())
}

/// Keeps the first of each value, in order.
fn dedup<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}
