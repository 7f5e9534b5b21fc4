//! `portcullis sendmail` (also the binary invoked as `sendmail`): the local
//! submission interface that cron, git, monitoring scripts and PHP's
//! `mail()` call. Reads one message on stdin, completes its header, and
//! hands it to the running server over loopback SMTP (`handoff.rs` says
//! why). When the server cannot take it now (not running, restarting,
//! answering 4xx to everything), the message goes into the maildrop
//! instead (`drop.rs`) and the server sends it on when it runs: exit 0, as
//! with Postfix. Exit codes follow sendmail's `sysexits.h`: 0 sent or
//! queued, 64 bad usage, 67 unknown recipient, 69 refused, 74 stdin
//! unreadable, 75 try again later (neither the server nor the maildrop
//! took it), 78 configuration problem. The message is never dropped
//! silently: any failure is a sentence on stderr and a non-zero exit.

mod args;
mod drop;
mod handoff;
mod message;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;

use portcullis_config::Config;
use portcullis_smtp::client::{Classified, Outcome};
use portcullis_store::maildrop;
use rand::RngCore;

/// `sysexits.h` codes.
const EX_USAGE: u8 = 64;
const EX_NOUSER: u8 = 67;
const EX_UNAVAILABLE: u8 = 69;
const EX_IOERR: u8 = 74;
const EX_TEMPFAIL: u8 = 75;
const EX_CONFIG: u8 = 78;

/// Runs sendmail with `argv` (the arguments after `sendmail`); `config` is
/// the `--config` given to `portcullis`, if any.
pub(crate) fn run(config: Option<PathBuf>, argv: &[String]) -> ExitCode {
    if argv.first().map(String::as_str) == Some("--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match main(config, argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            for line in message.lines() {
                eprintln!("sendmail: {line}");
            }
            ExitCode::from(code)
        }
    }
}

type Exit = (u8, String);

/// `sendmail --help`.
const USAGE: &str = "\
usage: sendmail [-t] [-f FROM] [-F NAME] [-i|-oi] [-bm] [-v] [-C FILE] [RCPT...]
Reads one message on stdin and hands it to the running Portcullis server.
  -t        also send to the To, Cc and Bcc addresses of the header (Bcc is removed)
  -f FROM   envelope sender (-f '<>' for the null sender); default: you@hostname
  -F NAME   display name for an added From header
  -i, -oi   a line with a single '.' does not end the message
  -bm       deliver (the default); other -o settings are accepted and ignored
  -v        show the SMTP dialog on stderr
  -C FILE   the Portcullis configuration (default: $PORTCULLIS_CONFIG,
            ./portcullis.toml if it exists, /etc/portcullis/portcullis.toml)
When the server is down the message waits in its maildrop and is sent when it starts.
Exit: 0 sent or queued, 64 usage, 67 unknown recipient, 69 refused,
      75 try later (not sent), 78 config.
";

fn main(config: Option<PathBuf>, argv: &[String]) -> Result<(), Exit> {
    let args = args::parse(argv).map_err(|u| (EX_USAGE, u.0))?;
    // The one lookup every command uses (`crate::cli::locate`).
    let path = crate::cli::locate::lookup(args.config.as_deref().or(config.as_deref()))
        .existing()
        .map_err(|e| (EX_CONFIG, e))?;
    let cfg = Config::load(&path).map_err(|e| (EX_CONFIG, e.to_string()))?;
    let server = server_address(&cfg).map_err(|e| (EX_CONFIG, e))?;

    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .map_err(|e| (EX_IOERR, format!("cannot read the message from stdin: {e}")))?;
    let lines = message::read_lines(&input, args.ignore_dots);

    let user_address = format!("{}@{}", login_name(), cfg.hostname);
    let sender = args.sender.clone().unwrap_or_else(|| user_address.clone());
    let from = if sender.is_empty() {
        user_address.as_str()
    } else {
        sender.as_str()
    };
    let date = portcullis_queue::date::rfc5322(portcullis_store::clock::unix_now());
    let message_id = new_message_id(&cfg.hostname);
    let prepared = message::prepare(
        &lines,
        &message::Defaults {
            from,
            full_name: args.full_name.as_deref(),
            date: &date,
            message_id: &message_id,
        },
    );

    let mut recipients = args.recipients.clone();
    // Postfix's reading of -t: header recipients are added to the arguments.
    if args.from_headers {
        recipients.extend(prepared.header_recipients.iter().cloned());
    }
    let recipients = qualify(recipients, &cfg);
    if recipients.is_empty() {
        return Err((
            EX_USAGE,
            "no recipients: give addresses as arguments, or -t to read To, Cc and Bcc".into(),
        ));
    }

    let verbose = args.verbose;
    let mut trace = |line: &str| {
        if verbose {
            eprintln!("{line}");
        }
    };
    let envelope = handoff::Envelope {
        helo: &cfg.hostname,
        sender: &sender,
        recipients,
        message: &prepared.message,
        eight_bit: prepared.eight_bit || args.eight_bit,
    };
    match handoff::send(server, &envelope, &mut trace) {
        Ok(_) => Ok(()),
        Err(handoff::Failed::Unreachable(why)) => to_maildrop(&cfg, &envelope, &why, &mut trace),
        Err(handoff::Failed::Unsure(why)) => Err((
            EX_TEMPFAIL,
            format!(
                "{why}\nthe whole message was sent but not acknowledged: it may or may not \
                 have been accepted; check before sending it again"
            ),
        )),
        // Nothing accepted and nothing refused for good (e.g. 421 while the
        // server shuts down, 452 while its disk is full): the maildrop waits.
        Err(handoff::Failed::Refused(outcome))
            if outcome
                .results
                .iter()
                .all(|r| r.class() == Classified::Temporary) =>
        {
            let why = outcome
                .results
                .first()
                .map(|r| handoff::describe(&r.reply))
                .unwrap_or_default();
            to_maildrop(&cfg, &envelope, &why, &mut trace)
        }
        Err(handoff::Failed::Refused(outcome)) => Err(refused(&outcome)),
    }
}

/// What the server refused, one line per recipient, and the exit code:
/// 67 when a recipient is unknown (5.1.x), 69 for another permanent
/// refusal, 75 when only temporary ones.
fn refused(outcome: &Outcome) -> Exit {
    let mut lines = Vec::new();
    let (mut temporary, mut unknown_user, mut permanent) = (false, false, false);
    for r in &outcome.results {
        match r.class() {
            Classified::Delivered => {
                lines.push(format!("{}: sent", r.recipient));
                continue;
            }
            Classified::Temporary => temporary = true,
            Classified::Permanent => {
                permanent = true;
                unknown_user |= r.reply.enhanced.is_some_and(|e| e.0 == 5 && e.1 == 1);
            }
        }
        lines.push(format!(
            "{}: NOT sent: {} (in reply to {})",
            r.recipient,
            handoff::describe(&r.reply),
            r.stage.command()
        ));
    }
    let code = match (permanent, unknown_user, temporary) {
        (true, true, _) => EX_NOUSER,
        (true, false, _) => EX_UNAVAILABLE,
        _ => EX_TEMPFAIL,
    };
    (code, lines.join("\n"))
}

/// Writes the message into the maildrop, after checking the addresses the
/// server would have checked in the dialog (nobody is there to hear of a
/// malformed one later).
fn to_maildrop(
    cfg: &Config,
    env: &handoff::Envelope<'_>,
    why: &str,
    trace: &mut dyn FnMut(&str),
) -> Result<(), Exit> {
    use portcullis_smtp::address::{parse_forward_path, parse_reverse_path};
    if parse_reverse_path(&format!("<{}>", env.sender), true).is_err() {
        return Err((EX_USAGE, format!("invalid sender address {:?}", env.sender)));
    }
    if let Some(bad) = env
        .recipients
        .iter()
        .find(|r| parse_forward_path(&format!("<{r}>"), true).is_err())
    {
        return Err((EX_USAGE, format!("invalid recipient address {bad:?}")));
    }
    if u64::try_from(env.message.len()).unwrap_or(u64::MAX) > cfg.limits.message_size {
        return Err((
            EX_UNAVAILABLE,
            format!(
                "the message ({} bytes) is larger than limits.message_size ({})",
                env.message.len(),
                cfg.limits.message_size
            ),
        ));
    }
    let dropped = maildrop::Drop {
        sender: env.sender.to_string(),
        recipients: env.recipients.clone(),
        eight_bit: env.eight_bit,
        message: env.message.to_vec(),
    };
    match drop::write(&cfg.data_dir, &dropped) {
        Ok(path) => {
            trace(&format!(
                "the server cannot take the message now ({why}); queued in the maildrop as {}",
                path.display()
            ));
            Ok(())
        }
        Err(e) => Err((
            EX_TEMPFAIL,
            format!("{why}\n{e}\nthe message was NOT sent (is `portcullis serve` running?)"),
        )),
    }
}

/// The `listen.smtp` address to hand mail to: a loopback one if there is
/// one (a wildcard bind, `0.0.0.0` or `::`, counts as loopback), else the
/// first; never one that expects a PROXY header. Loopback first because
/// that is the source address `relay.allow` trusts by default.
fn server_address(cfg: &Config) -> Result<SocketAddr, String> {
    if cfg.listen.smtp.is_empty() {
        return Err(format!(
            "listen.smtp is empty in {}: sendmail hands mail to the smtp listener",
            cfg.path.display()
        ));
    }
    let candidates: Vec<SocketAddr> = cfg
        .listen
        .smtp
        .iter()
        .map(|a| {
            let ip = match a.ip() {
                IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            SocketAddr::new(ip, a.port())
        })
        .filter(|a| !cfg.listen.is_proxied(*a))
        .collect();
    candidates
        .iter()
        .find(|a| a.ip().is_loopback())
        .or(candidates.first())
        .copied()
        .ok_or_else(|| {
            format!(
                "every listen.smtp listener in {} expects a PROXY header: add a loopback listener \
                 (e.g. \"127.0.0.1:25\") and leave it out of listen.proxied",
                cfg.path.display()
            )
        })
}

/// A recipient without a domain (`alice`, `root`) is local: it gets the
/// first local domain, as classic sendmail appends the local host name.
fn qualify(recipients: Vec<String>, cfg: &Config) -> Vec<String> {
    let domain = cfg
        .local_domains
        .first()
        .cloned()
        .unwrap_or_else(|| cfg.hostname.clone());
    let mut out: Vec<String> = Vec::new();
    for r in recipients {
        let r = if r.contains('@') {
            r
        } else {
            format!("{r}@{domain}")
        };
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&r)) {
            out.push(r);
        }
    }
    out
}

/// `<seconds.random@host>`: unique without any state.
fn new_message_id(hostname: &str) -> String {
    let secs = portcullis_store::clock::unix_now();
    let mut random = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("<{secs}.{hex}@{hostname}>")
}

/// The invoking user's login name: the owner of this process (the uid
/// /proc/self belongs to) looked up in /etc/passwd, else `$LOGNAME` or
/// `$USER`, else `nobody`. Only for the default sender and From: `-f` can
/// set any sender, as with every sendmail.
fn login_name() -> String {
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if let (Some(uid), Ok(passwd)) = (uid, std::fs::read_to_string("/etc/passwd")) {
        for line in passwd.lines() {
            let mut f = line.split(':');
            let (Some(name), _, Some(id)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if id.parse::<u32>() == Ok(uid) && is_plain_name(name) {
                return name.to_string();
            }
        }
    }
    ["LOGNAME", "USER"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|n| is_plain_name(n))
        .unwrap_or_else(|| "nobody".to_string())
}

/// A name safe as the local part of an address without quoting.
fn is_plain_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use portcullis_config::Config;

    use super::{qualify, server_address};

    fn cfg(text: &str) -> Config {
        Config::from_str(text, Path::new("/etc/portcullis/portcullis.toml")).unwrap()
    }

    #[test]
    fn the_loopback_listener_is_preferred_and_wildcards_mean_loopback() {
        let c = cfg("[listen]\nsmtp = [\"192.0.2.10:25\", \"127.0.0.1:2526\"]");
        assert_eq!(server_address(&c).unwrap().to_string(), "127.0.0.1:2526");
        let c = cfg("[listen]\nsmtp = [\"0.0.0.0:25\"]");
        assert_eq!(server_address(&c).unwrap().to_string(), "127.0.0.1:25");
        let c = cfg("[listen]\nsmtp = [\"[::]:25\"]");
        assert_eq!(server_address(&c).unwrap().to_string(), "[::1]:25");
        let c = cfg("[listen]\nsmtp = [\"192.0.2.10:25\"]");
        assert_eq!(server_address(&c).unwrap().to_string(), "192.0.2.10:25");
    }

    #[test]
    fn proxied_listeners_are_skipped_and_none_left_is_an_error() {
        let c = cfg("[listen]\nsmtp = [\"127.0.0.1:25\", \"127.0.0.1:2526\"]\n\
             proxy_from = [\"10.0.0.2\"]\nproxied = [\"127.0.0.1:25\"]");
        assert_eq!(server_address(&c).unwrap().to_string(), "127.0.0.1:2526");
        let all = cfg("[listen]\nsmtp = [\"127.0.0.1:25\"]\nproxy_from = [\"10.0.0.2\"]");
        assert!(server_address(&all)
            .unwrap_err()
            .contains("expects a PROXY header"));
        let none = cfg("[listen]\nsmtp = []");
        assert!(server_address(&none)
            .unwrap_err()
            .contains("listen.smtp is empty"));
    }

    #[test]
    fn bare_names_get_the_first_local_domain_and_duplicates_go() {
        let c = cfg("hostname = \"mx.test\"\nlocal_domains = [\"example.com\"]");
        assert_eq!(
            qualify(
                vec!["root".into(), "Root@example.com".into(), "b@x".into()],
                &c
            ),
            ["root@example.com", "b@x"]
        );
    }
}
