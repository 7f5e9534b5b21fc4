//! `portcullis completions SHELL` and `portcullis man DIR`: shell completion
//! scripts (clap_complete) and man pages (clap_mangen), both generated from
//! the same clap definition the command line is parsed with, so they cannot
//! disagree with it. The prose reference is `docs/reference.md`.

use std::fs;
use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Failure};

/// Prints the completion script for `shell` on stdout.
pub(super) fn completions(shell: Shell) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "portcullis", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::closed_pipe()),
        Err(e) => Err(Failure::runtime(format!(
            "cannot write the completions: {e}"
        ))),
    }
}

/// Writes `portcullis.1` and one page per subcommand (`portcullis-config-set.1`, …)
/// into `dir` (created if missing), and names each file written.
pub(super) fn man_pages(dir: &Path) -> Result<(), Failure> {
    fs::create_dir_all(dir)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
    let mut cmd = Cli::command();
    // Gives every subcommand its display name (`portcullis-config-set`).
    cmd.build();
    write_page(dir, &cmd)
}

fn write_page(dir: &Path, cmd: &clap::Command) -> Result<(), Failure> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut bytes)
        .map_err(|e| Failure::runtime(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    fs::write(&path, bytes)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    super::output::say!("{}", path.display())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_page(dir, sub)?;
    }
    Ok(())
}
