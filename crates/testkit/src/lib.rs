//! Black-box test harness: starts the real `portcullis` binary with a
//! generated configuration in a temporary directory, on free loopback ports,
//! with a loopback DNS stub as its only resolver, and talks real SMTP to it
//! from any 127.x.y.z source address.
//!
//! Every test gets its own directory, ports, DNS stub and server process, so
//! tests run in parallel; every network read has a timeout, so no test hangs.
//!
//! One crate for every integration test binary (they `use portcullis_testkit
//! as common;`), so the harness is compiled once, not once per test file.
//! The binary under test is the `portcullis` that cargo builds next to this
//! crate's build output for the root package's integration tests (see
//! `build.rs`).

pub mod api;
pub mod auth_support;
pub mod browser;
pub mod client;
pub mod console;
pub mod dns;
pub mod dovecot;
pub mod mail;
pub mod outbound;
pub mod postgres;
pub mod process;
pub mod relay_probe;
mod server;
mod setup;
pub mod sink;
pub mod transcript;

pub use server::{server_with_queued_remote, Server};
pub use setup::Setup;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use client::{has_enhanced, queue_id, Client, ReadError};
pub use dns::{DnsStub, Zone};
pub use mail::{find, show, split_delivered};
pub use process::run_with_timeout;

/// The binary under test: cargo builds it into the same target directory
/// before it runs the root package's integration tests (`build.rs`).
pub const BIN: &str = env!("PORTCULLIS_BIN");
/// Every read from the server gives up after this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `serve` may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a polled file-system condition (Maildir, queue) may take.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// A free TCP port on `ip` (bound, then released: the server binds it next).
pub fn free_port(ip: IpAddr) -> u16 {
    // Never the same port twice in one test binary: a port freed by a
    // stopped server (or kept free on purpose, to be refused) must not be
    // handed to a test running alongside, whose server would then answer
    // for the first. (Cargo runs test binaries one at a time.)
    for _ in 0..100 {
        let port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
            .port();
        if claim_port(port) {
            return port;
        }
    }
    panic!("no port on {ip} that this test binary has not used yet")
}

/// Records `port` as used by this test binary; false if it already was.
/// Every port the harness binds or hands out goes through here.
pub fn claim_port(port: u16) -> bool {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port)
}

/// A TOML basic string holding `s`.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the global `--config FILE` option goes on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfigFlag {
    /// `portcullis --config FILE user add …` (a global or top-level option).
    BeforeSubcommand,
    /// `portcullis user add … --config FILE` (declared on each subcommand).
    AfterSubcommand,
}

/// Reads `portcullis --help` once to see where `--config` is accepted.
fn config_flag() -> ConfigFlag {
    static FLAG: OnceLock<ConfigFlag> = OnceLock::new();
    *FLAG.get_or_init(|| {
        let help = Command::new(BIN).arg("--help").output();
        match help {
            Ok(out) if String::from_utf8_lossy(&out.stdout).contains("--config") => {
                ConfigFlag::BeforeSubcommand
            }
            _ => ConfigFlag::AfterSubcommand,
        }
    })
}

/// The argument list for `portcullis <args>` with `--config path` placed where the binary wants it.
pub fn with_config(config: &Path, args: &[&str]) -> Vec<String> {
    let cfg = config.to_string_lossy().into_owned();
    let mut v: Vec<String> = Vec::new();
    match config_flag() {
        ConfigFlag::BeforeSubcommand => {
            v.push("--config".into());
            v.push(cfg);
            v.extend(args.iter().map(|a| a.to_string()));
        }
        ConfigFlag::AfterSubcommand => {
            v.extend(args.iter().map(|a| a.to_string()));
            v.push("--config".into());
            v.push(cfg);
        }
    }
    v
}

/// The text of a command's output, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Source addresses that are not in a test's allow list.
pub const DENIED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
