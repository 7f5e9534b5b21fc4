//! Command-line parsing and the admin commands (docs/reference.md §1). Exit codes: 0 on
//! success, 1 on a runtime failure, 2 on bad input; errors are one sentence
//! on stderr naming the offending value.

mod check_relay;
mod config_cmd;
mod directory;
mod dkim;
mod dns_records;
mod failure;
pub(crate) mod locate;
mod manuals;
pub(crate) mod output;
mod queue;
pub(crate) mod sendmail;
mod server_cmd;
mod user;

pub(crate) use config_cmd::load_config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Portcullis: a secure-by-default SMTP mail server.
#[derive(Parser, Debug)]
#[command(name = "portcullis", version, about)]
pub(crate) struct Cli {
    /// The configuration file (default: $PORTCULLIS_CONFIG, else
    /// ./portcullis.toml if it exists, else /etc/portcullis/portcullis.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the server in the foreground (creates the config with safe defaults if absent).
    Serve {
        /// Start even though the configuration makes an open relay.
        #[arg(long)]
        allow_open_relay: bool,
        /// Validate the configuration and exit.
        #[arg(long)]
        check: bool,
    },
    /// Read or edit the configuration file.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Explain the relay decision for each recipient, as the server would take it.
    CheckRelay(check_relay::CheckRelayArgs),
    /// Ask the running server to reload its configuration, and report the outcome.
    Reload,
    /// Show what the running server is doing.
    Status,
    /// Lift the AUTH ban on an address (and forget its failures) in the running server.
    Unban {
        /// The banned client address (an IPv6 address lifts its /64).
        address: String,
    },
    /// Manage local users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Inspect and manage the outbound queue (like mailq, postqueue -f, postsuper -d).
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// sendmail-compatible local submission: reads one message on stdin and
    /// hands it to the running server (also when invoked as `sendmail`).
    #[command(disable_help_flag = true)]
    Sendmail {
        /// sendmail options and recipients: [-t] [-f FROM] [-F NAME] [-i|-oi] [-bm] [-v] [-C FILE] [RCPT...]
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// DKIM signing keys: `dkim generate DOMAIN` makes one and prints its DNS record.
    #[command(subcommand)]
    Dkim(dkim::DkimCommand),
    /// The shared directory's database (directory.url_file): `init`, `import`, `status`.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Print the DNS records each local domain should publish (MX, SPF, DKIM,
    /// DMARC, MTA-STS, TLS-RPT), ready to paste.
    DnsRecords {
        /// Only this domain (default: every local domain with a public name).
        domain: Option<String>,
    },
    /// Print a shell completion script, e.g. `portcullis completions bash >
    /// /etc/bash_completion.d/portcullis`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (portcullis.1, portcullis-config-set.1, ...) into DIR.
    Man {
        /// Where to write them, e.g. /usr/local/share/man/man1.
        dir: PathBuf,
    },
}

pub(crate) use failure::Failure;

/// `sendmail …` (argv[0] named `sendmail`, e.g. a symlink) or `portcullis
/// [--config FILE] sendmail …`: sendmail's single-dash options (`-fuser@x`,
/// `-oi`) are not clap's, so they are read by hand before clap runs.
fn sendmail_invocation(argv: &[String]) -> Option<ExitCode> {
    let program = argv.first()?;
    let name = std::path::Path::new(program).file_name()?.to_string_lossy();
    if name == "sendmail" {
        return Some(sendmail::run(None, &argv[1..]));
    }
    let mut config = None;
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        if arg == "--config" {
            config = Some(PathBuf::from(argv.get(i + 1)?));
            i += 2;
        } else if let Some(path) = arg.strip_prefix("--config=") {
            config = Some(PathBuf::from(path));
            i += 1;
        } else if arg == "sendmail" {
            return Some(sendmail::run(config, &argv[i + 1..]));
        } else {
            return None;
        }
    }
    None
}

pub(crate) fn run() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(code) = sendmail_invocation(&argv) {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let found = locate::lookup(cli.config.as_deref());
    let result = match cli.command {
        // Only `serve` may create the file (its check mode only reads it).
        Command::Serve {
            allow_open_relay,
            check: false,
        } => portcullis_server::serve(&found.path, allow_open_relay).map_err(Failure::from),
        Command::Sendmail { args } => return sendmail::run(cli.config, &args),
        // Generated from the command line itself: no configuration needed.
        Command::Completions { shell } => manuals::completions(shell),
        Command::Man { dir } => manuals::man_pages(&dir),
        command => match found.existing() {
            Ok(path) => run_command(&path, command),
            Err(sentence) => Err(Failure::runtime(sentence)),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("portcullis: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// Runs a command other than `serve` (creating) and `sendmail` on an existing file.
fn run_command(config: &std::path::Path, command: Command) -> Result<(), Failure> {
    match command {
        // Exactly `config check` (one validation path).
        Command::Serve {
            allow_open_relay, ..
        } => {
            let options = config_cmd::CheckOptions {
                allow_open_relay,
                ..Default::default()
            };
            config_cmd::check_and_report(config, options)
        }
        Command::Config(cmd) => config_cmd::run(config, cmd),
        Command::CheckRelay(args) => check_relay::run(config, args),
        Command::User(cmd) => user::run(config, cmd),
        Command::Queue(cmd) => queue::run(config, cmd),
        Command::Dkim(cmd) => dkim::run(config, cmd),
        Command::Directory(cmd) => directory::run(config, cmd),
        Command::DnsRecords { domain } => dns_records::run(config, domain),
        Command::Reload => server_cmd::reload(config),
        Command::Status => server_cmd::status(config),
        Command::Unban { address } => server_cmd::unban(config, &address),
        // Invariant: `run` handles these before the lookup (sendmail's exit
        // codes are sysexits; the manuals need no configuration).
        Command::Sendmail { .. } | Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("run before the configuration lookup")
        }
    }
}
