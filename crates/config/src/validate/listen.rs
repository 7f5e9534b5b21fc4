//! `[listen]`: the SMTP, submission and submissions addresses, and the
//! PROXY-protocol settings that refer to them.

use super::super::defaults::default_list;
use super::super::error::{quote, ConfigError};
use super::super::raw::RawListen;
use super::super::values::parse_listen;
use super::super::{Listen, Network};
use super::Ctx;

/// `[listen]`, each list defaulting per host name.
pub(super) fn listen(ctx: &Ctx<'_>, raw: RawListen, hostname: &str) -> Result<Listen, ConfigError> {
    let listen_list = |key: &str, v: Option<Vec<String>>| {
        ctx.each(
            key,
            v.unwrap_or_else(|| default_list(key, hostname)),
            parse_listen,
        )
    };
    let mut listen = Listen {
        smtp: listen_list("listen.smtp", raw.smtp)?,
        submission: listen_list("listen.submission", raw.submission)?,
        submissions: listen_list("listen.submissions", raw.submissions)?,
        proxy_from: Vec::new(),
        proxied: Vec::new(),
    };
    proxy_settings(
        ctx,
        raw.proxy_from.unwrap_or_default(),
        raw.proxied.unwrap_or_default(),
        &mut listen,
    )?;
    Ok(listen)
}

/// `listen.proxy_from` and `listen.proxied`: the load balancers' addresses,
/// and the listeners (already parsed into `listen`) that expect the header.
fn proxy_settings(
    ctx: &Ctx<'_>,
    from: Vec<String>,
    proxied: Vec<String>,
    listen: &mut Listen,
) -> Result<(), ConfigError> {
    listen.proxy_from = ctx.each("listen.proxy_from", from, Network::parse)?;
    listen.proxied = ctx.each("listen.proxied", proxied.clone(), parse_listen)?;
    for (addr, raw) in listen.proxied.iter().zip(&proxied) {
        let bound = listen
            .smtp
            .iter()
            .chain(&listen.submission)
            .chain(&listen.submissions);
        if !bound.clone().any(|l| l == addr) {
            return Err(ctx.invalid(
                "listen.proxied",
                quote(raw),
                "is not one of the listen.smtp, listen.submission or listen.submissions addresses",
            ));
        }
    }
    // Why refuse: a proxied listener without trusted proxies would refuse
    // every connection, and the admin would only see it in the logs.
    if listen.proxy_from.is_empty() {
        if let Some(first) = proxied.first() {
            return Err(ctx.invalid(
                "listen.proxied",
                quote(first),
                "needs listen.proxy_from (the load balancers allowed to send the PROXY header)",
            ));
        }
    }
    Ok(())
}
