//! Parsers for the value notations of the configuration: domain names,
//! listener and resolver addresses, `host[:port]`, alias names and targets,
//! and relative paths. Each returns the reason a value is refused, worded to
//! follow "invalid KEY VALUE in FILE: ".

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};

/// The SASL mechanisms Portcullis implements, in the default order.
pub const MECHANISMS: &[&str] = &["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"];

/// The port a resolver listens on when the entry names none (RFC 1035 §4.2).
const DNS_PORT: u16 = 53;
/// The port a smarthost or route listens on when the entry names none (RFC 5321 §4.5.4.2).
const SMTP_PORT: u16 = 25;

/// A domain name as `local_domains` and `hostname` take it: letters, digits
/// and hyphens in labels of 1 to 63 characters, 253 at most in all (RFC 1035
/// §2.3.1, RFC 1123 §2.1), returned lower-case without a trailing dot.
pub fn parse_domain(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err("a domain name cannot be empty".to_string());
    }
    if name.len() > 253 {
        return Err("a domain name has at most 253 characters".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("a domain name cannot have an empty label".to_string());
        }
        if label.len() > 63 {
            return Err(format!("label \"{label}\" is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "{} is not allowed in a domain name (letters, digits, '-' and '.' only)",
                describe_char(c)
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label \"{label}\" starts or ends with '-'"));
        }
    }
    Ok(name.to_ascii_lowercase())
}

/// A listener address: `IP:port`, IPv6 in brackets.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse::<SocketAddr>().map_err(|_| {
        "not a socket address (expected IP:port, e.g. \"127.0.0.1:2525\" or \"[::1]:2525\")"
            .to_string()
    })
}

/// A resolver address: `IP` (port 53) or `IP:port`.
pub fn parse_nameserver(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    // "[::1]" without a port is an IPv6 address in brackets.
    if let Some(ip) = s
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
    {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        "not an IP address or IP:port (e.g. \"192.0.2.53\" or \"127.0.0.1:5353\")".to_string()
    })
}

/// A next hop, `host[:port]` with host a domain name, an IPv4 address or a
/// bracketed IPv6 address; returned as `host:port` with the port made
/// explicit (25 if omitted).
pub fn parse_host_port(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("a host cannot be empty".to_string());
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr.to_string());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, SMTP_PORT).to_string());
    }
    if s.starts_with('[') {
        return match s
            .strip_suffix(']')
            .map(|inner| inner[1..].parse::<IpAddr>())
        {
            Some(Ok(ip)) => Ok(SocketAddr::new(ip, SMTP_PORT).to_string()),
            _ => Err(
                "not a host[:port] (an IPv6 address goes in brackets, e.g. \"[2001:db8::1]:25\")"
                    .to_string(),
            ),
        };
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port \"{port}\" is not a number from 1 to 65535"))?;
            (host, port)
        }
        None => (s, SMTP_PORT),
    };
    let host = parse_domain(host)?;
    Ok(format!("{host}:{port}"))
}

/// An alias name (the key in `[aliases]`): a local part without `@`,
/// white space or control characters, returned lower-case.
pub fn parse_alias_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an alias name cannot be empty".to_string());
    }
    if let Some(c) = s
        .chars()
        .find(|c| *c == '@' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{} is not allowed in an alias name (write the local part only)",
            describe_char(c)
        ));
    }
    Ok(s.to_lowercase())
}

/// An alias target: a local name, or `local@domain`.
pub fn parse_alias_target(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an alias target cannot be empty".to_string());
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{} is not allowed in an alias target",
            describe_char(c)
        ));
    }
    match s.rsplit_once('@') {
        None => Ok(s.to_string()),
        Some((local, domain)) if !local.is_empty() => {
            parse_domain(domain).map(|d| format!("{local}@{d}"))
        }
        Some(_) => Err("an address needs a local part before '@'".to_string()),
    }
}

/// A duration as the `Duration` keys take it: a whole number in the key's
/// unit, or digits followed by a unit: `s`, `m`, `h`, `d` (and `ms` when
/// the key counts milliseconds). Returns the value in the key's unit.
pub fn parse_duration(s: &str, in_ms: bool) -> Result<i64, String> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    let expected = if in_ms {
        "expected milliseconds or a duration such as \"500ms\", \"30s\" or \"5m\""
    } else {
        "expected seconds or a duration such as \"30s\", \"5m\", \"2h\" or \"5d\""
    };
    let n: i64 = number.parse().map_err(|_| expected.to_string())?;
    let seconds = match unit {
        "" => return Ok(n),
        "ms" if in_ms => return Ok(n),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(expected.to_string()),
    };
    let factor = if in_ms { seconds * 1000 } else { seconds };
    n.checked_mul(factor)
        .ok_or_else(|| "is too long a duration".to_string())
}

/// The levels `log.level` takes, least verbose first.
pub const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// A `log.level` filter: comma-separated directives, each a level
/// (`info`) or `target=level` (`portcullis=debug`), as tracing's `EnvFilter`
/// reads them. Stricter than `EnvFilter`, which takes a bare word such as
/// `verbose` as a target name and then logs nothing at all.
pub fn parse_log_level(s: &str) -> Result<String, String> {
    let levels = LOG_LEVELS.join(", ");
    for directive in s.split(',') {
        let directive = directive.trim();
        if directive.is_empty() {
            return Err("has an empty directive (write levels and target=level separated by single commas, e.g. \"info,portcullis=debug\")".to_string());
        }
        let (target, level) = match directive.split_once('=') {
            Some((t, l)) => (Some(t), l),
            None => (None, directive),
        };
        if !LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            return Err(format!(
                "\"{level}\" is not a log level (one of {levels}, or target=level)"
            ));
        }
        if let Some(t) = target {
            let valid = !t.is_empty()
                && t.split("::").all(|part| {
                    part.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid {
                return Err(format!(
                    "\"{t}\" is not a target (a module path such as \"portcullis\" or \"hickory_proto\")"
                ));
            }
        }
    }
    Ok(s.to_string())
}

/// The SASL mechanism as Portcullis names it, from any capitalisation.
pub fn parse_mechanism(s: &str) -> Result<&'static str, String> {
    MECHANISMS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| format!("unknown mechanism (allowed: {})", MECHANISMS.join(", ")))
}

/// A path from the file, resolved against the directory holding the file
/// (relative paths in a config mean "next to the config", not "wherever the
/// server happened to be started"). `.` components are dropped.
pub fn resolve_path(config_path: &Path, value: &str) -> PathBuf {
    let value = Path::new(value);
    let joined = if value.is_absolute() {
        value.to_path_buf()
    } else {
        config_dir(config_path).join(value)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        if component != Component::CurDir {
            out.push(component);
        }
    }
    out
}

/// The directory of the config file, made absolute with the current
/// directory when the file was named relatively.
fn config_dir(config_path: &Path) -> PathBuf {
    let dir = config_path.parent().unwrap_or(Path::new(""));
    if dir.is_absolute() {
        return dir.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(dir),
        Err(_) => dir.to_path_buf(),
    }
}

/// A character as an error message names it.
fn describe_char(c: char) -> String {
    if c == ' ' {
        "a space".to_string()
    } else if c.is_whitespace() || c.is_control() {
        format!("character {}", c.escape_debug())
    } else {
        format!("'{c}'")
    }
}
