//! `portcullis directory init|import|export|status`: the shared directory's
//! database ([`admin::directory`]), rendered for the terminal.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use portcullis_server::admin;

use super::output::{self, say};
use super::Failure;

#[derive(Subcommand, Debug)]
pub(crate) enum DirectoryCommand {
    /// Create or upgrade the database schema (idempotent).
    Init,
    /// Copy this node's file-backed domains, users, aliases, relay policy
    /// and routes into the database, replacing what it held.
    Import,
    /// Write the database's site out as the file backend keeps it:
    /// DIR/site.toml (local_domains, [relay], [aliases], [routes]) and DIR/users.
    Export {
        /// A new or empty directory.
        dir: PathBuf,
    },
    /// Show the backend, the schema and policy versions, and every node.
    Status,
}

pub(super) fn run(config: &Path, cmd: DirectoryCommand) -> Result<(), Failure> {
    match cmd {
        DirectoryCommand::Init => {
            let version = admin::directory::init(config)?;
            say!("directory schema at version {version}")
        }
        DirectoryCommand::Import => {
            let i = admin::directory::import(config)?;
            say!(
                "imported {} domains, {} users, {} aliases, {} relay entries and {} routes; policy version {}",
                i.domains,
                i.users,
                i.aliases,
                i.relay_entries,
                i.routes,
                i.policy_version
            )
        }
        DirectoryCommand::Export { dir } => {
            let e = admin::directory::export(config, &dir)?;
            say!(
                "exported policy version {} to {} and {}",
                e.policy_version,
                e.settings.display(),
                e.users.display()
            )
        }
        DirectoryCommand::Status => {
            let s = admin::directory::status(config)?;
            let mut lines = vec![
                format!("backend: {}", s.backend),
                format!("schema: {} (this build: {})", s.schema, s.schema_current),
                format!(
                    "policy version: {}",
                    s.policy_version.map_or_else(
                        || "none (run directory init)".to_string(),
                        |v| v.to_string()
                    )
                ),
            ];
            if s.nodes.is_empty() {
                lines.push("nodes: none has reported".to_string());
            }
            lines.extend(s.nodes.iter().map(|(name, applied, ago)| {
                let applied = applied.map_or_else(|| "nothing".to_string(), |v| v.to_string());
                format!("node {name}: applied {applied}, seen {ago} s ago")
            }));
            output::lines(lines)
        }
    }
}
