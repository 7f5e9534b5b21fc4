//! The directory URL as libpq reads it:
//! `postgres://user:password@host:port/db?sslmode=MODE&sslrootcert=PATH`.
//! tokio-postgres knows neither `verify-ca`/`verify-full` nor `sslrootcert`,
//! so both are taken out here and become the TLS settings; everything else
//! goes to tokio-postgres as written. Errors never repeat the URL, which
//! holds a password.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use tokio_postgres::config::SslMode as PgSslMode;

/// libpq's `sslmode`: how much TLS the connection insists on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS if the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is verified only if a root
    /// certificate is named (then as `verify-ca`), as libpq does.
    Require,
    /// TLS with a certificate signed by a trusted root, any host name.
    VerifyCa,
    /// TLS with a certificate signed by a trusted root, for the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(format!(
                "sslmode {value:?} is not one of disable, prefer, require, verify-ca, verify-full"
            ))
            }
        })
    }

    /// What tokio-postgres is told: whether TLS is tried and insisted on.
    fn negotiation(self) -> PgSslMode {
        match self {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }

    /// Its name in the URL.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where to connect and how.
pub(crate) struct Target {
    /// tokio-postgres's settings, TLS negotiation included.
    pub(crate) config: tokio_postgres::Config,
    pub(crate) ssl_mode: SslMode,
    /// `sslrootcert`: the PEM file of the roots that verify the server;
    /// None (or `sslrootcert=system`): the system's roots.
    pub(crate) root_cert: Option<PathBuf>,
}

/// Reads `url`: the URL form (`postgres://` or `postgresql://`) with its
/// `sslmode` and `sslrootcert`, or libpq's `key=value` form, whose
/// `sslmode` may be disable, prefer or require.
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    let invalid = |e: tokio_postgres::Error| format!("URL is not valid: {e}");
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        let config: tokio_postgres::Config = url.parse().map_err(invalid)?;
        let ssl_mode = match config.get_ssl_mode() {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        return Ok(Target {
            config,
            ssl_mode,
            root_cert: None,
        });
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut ssl_mode = SslMode::Prefer;
    let mut root_cert = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| format!("URL is not valid: {key} is not UTF-8"))
        };
        match key {
            "sslmode" => ssl_mode = SslMode::parse(&decoded()?)?,
            "sslrootcert" => {
                let path = decoded()?;
                root_cert = (path != "system").then(|| PathBuf::from(path));
            }
            _ => kept.push(pair),
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    let mut config: tokio_postgres::Config = rest.parse().map_err(invalid)?;
    config.ssl_mode(ssl_mode.negotiation());
    Ok(Target {
        config,
        ssl_mode,
        root_cert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_and_the_rest_kept() {
        let t = parse(
            "postgres://u:pw@db.example.com:5433/site?connect_timeout=3&sslmode=verify-full&sslrootcert=/etc/ssl/my%20ca.pem",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ssl/my ca.pem")));
        assert_eq!(t.config.get_ssl_mode(), PgSslMode::Require);
        assert_eq!(t.config.get_dbname(), Some("site"));
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
    }

    #[test]
    fn prefer_is_the_default_and_system_means_the_systems_roots() {
        let t = parse("postgresql://u@host/db").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Prefer);
        let t = parse("postgres://u@host/db?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!((t.ssl_mode, t.root_cert), (SslMode::VerifyCa, None));
        let t = parse("host=db user=u sslmode=require").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Require);
    }

    #[test]
    fn an_unknown_sslmode_is_named_and_the_password_is_not() {
        let err = parse("postgres://u:s3cret@host/db?sslmode=allways")
            .err()
            .unwrap();
        assert!(
            err.contains("\"allways\"") && !err.contains("s3cret"),
            "{err}"
        );
    }
}
