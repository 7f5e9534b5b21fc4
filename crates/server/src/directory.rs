//! The one place a [`Directory`] backend is opened from the node's
//! configuration (`[directory]`): by `serve`, `reload` and the admin API
//! alike, so they all read and edit the same site.

use std::sync::Arc;

use portcullis_config::{Config, DirectoryBackend};
use portcullis_directory::{Directory, FileDirectory};
use portcullis_directory_pg::PgDirectory;

/// A directory shared by the tasks of the server.
pub type SharedDirectory = Arc<dyn Directory + Send + Sync>;

/// Opens the backend `config` names, or says in one sentence why not.
pub fn open_directory(config: &Config) -> Result<SharedDirectory, String> {
    open(config, None)
}

/// The directory `serve` serves from: a shared one also records this
/// node's heartbeat under `directory.node_name`, else its host name.
pub(crate) fn open_served_directory(config: &Config) -> Result<SharedDirectory, String> {
    let name = config.directory.node_name.as_ref();
    open(config, Some(name.unwrap_or(&config.hostname).clone()))
}

fn open(config: &Config, node_name: Option<String>) -> Result<SharedDirectory, String> {
    match config.directory.backend {
        DirectoryBackend::Files => Ok(Arc::new(FileDirectory::new(Arc::new(config.clone())))),
        DirectoryBackend::Postgres => Ok(Arc::new(PgDirectory::open(
            database_url(config)?,
            Arc::new(config.clone()),
            node_name,
        ))),
    }
}

/// The URL in the file `directory.url_file` names, or one sentence saying
/// why it cannot be had (the URL itself is never repeated: it holds a
/// password).
pub(crate) fn database_url(config: &Config) -> Result<String, String> {
    let path = config.directory.url_file.as_ref().ok_or(
        "directory.url_file is not set: name the file that holds postgres://user:password@host/db",
    )?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read directory.url_file {}: {e}", path.display()))?;
    Ok(text.trim().to_string())
}

/// The directory to serve after a reload from `old` to `new`. The file
/// backend is the configuration file itself, so it is opened again with the
/// new file; another backend keeps its connection (`directory.backend` and
/// `directory.url_file` take effect at the next start).
pub(crate) fn reopen(
    current: &SharedDirectory,
    old: &Config,
    new: &Config,
) -> Result<SharedDirectory, String> {
    match (old.directory.backend, new.directory.backend) {
        (DirectoryBackend::Files, DirectoryBackend::Files) => open_directory(new),
        _ => Ok(current.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_file_backend_is_opened_again_with_the_new_file() {
        let old = Config::defaults(Path::new("/nonexistent/portcullis.toml"));
        let dir = open_directory(&old).unwrap();
        let mut new = old.clone();
        new.local_domains = vec!["example.com".into()];
        let reopened = reopen(&dir, &old, &new).unwrap();
        let site = reopened.load(None).unwrap();
        assert_eq!(site.local_domains, ["example.com"]);
    }
}
