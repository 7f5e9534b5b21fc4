//! Which configuration file a command reads (the same rule for every
//! command, sendmail included): `--config FILE`, else `$PORTCULLIS_CONFIG`,
//! else `./portcullis.toml` if it exists, else
//! `/etc/portcullis/portcullis.toml`. Only `serve` creates a missing file;
//! every other command refuses it with one sentence naming the paths it
//! looked at, so a mistyped path is never silently a new, empty site.

use std::path::{Path, PathBuf};

/// The environment variable naming the configuration file.
pub(crate) const CONFIG_ENV: &str = "PORTCULLIS_CONFIG";
/// The file in the current directory, used when it exists (and created
/// there by `serve` when nothing names another path).
pub(crate) const LOCAL_CONFIG: &str = "portcullis.toml";
/// The system-wide file, used when nothing else names or holds one.
pub(crate) const SYSTEM_CONFIG: &str = "/etc/portcullis/portcullis.toml";

/// The outcome of the lookup.
#[derive(Debug)]
pub(crate) struct Lookup {
    /// The file to use (for `serve`, the one to create when missing).
    pub path: PathBuf,
    /// Where the path came from, for the error sentence; None: the search
    /// of `./portcullis.toml` and the system file found neither.
    named_by: Option<&'static str>,
    /// Whether `path` exists.
    exists: bool,
}

/// Finds the configuration file; `explicit` is `--config` (or sendmail's `-C`).
pub(crate) fn lookup(explicit: Option<&Path>) -> Lookup {
    let env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
    let named = match (explicit, env) {
        (Some(p), _) => Some((p.to_path_buf(), "--config")),
        (None, Some(v)) => Some((PathBuf::from(v), "$PORTCULLIS_CONFIG")),
        (None, None) => None,
    };
    if let Some((path, named_by)) = named {
        let exists = path.exists();
        return Lookup {
            path,
            named_by: Some(named_by),
            exists,
        };
    }
    for candidate in [LOCAL_CONFIG, SYSTEM_CONFIG] {
        if Path::new(candidate).exists() {
            return Lookup {
                path: PathBuf::from(candidate),
                named_by: None,
                exists: true,
            };
        }
    }
    Lookup {
        path: PathBuf::from(LOCAL_CONFIG),
        named_by: None,
        exists: false,
    }
}

impl Lookup {
    /// The file for any command but `serve`: it must exist.
    pub(crate) fn existing(self) -> Result<PathBuf, String> {
        if self.exists {
            return Ok(self.path);
        }
        Err(match self.named_by {
            Some(by) => format!(
                "no configuration file at {} (named by {by}); only `portcullis serve` creates one",
                self.path.display()
            ),
            None => format!(
                "no configuration file: looked at {} and {SYSTEM_CONFIG} (name one with --config FILE or ${CONFIG_ENV}; `portcullis serve` creates {LOCAL_CONFIG})",
                absolute(Path::new(LOCAL_CONFIG)).display()
            ),
        })
    }
}

/// `path` joined to the current directory, for a message.
fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
