//! The one place a [`Directory`] backend is opened from the node's
//! configuration (`[directory]`): by `serve`, `reload` and the admin API
//! alike, so they all read and edit the same site.

use std::sync::Arc;

use portcullis_config::{Config, DirectoryBackend};
use portcullis_directory::{Directory, FileDirectory};

/// A directory shared by the tasks of the server.
pub type SharedDirectory = Arc<dyn Directory + Send + Sync>;

/// Opens the backend `config` names, or says in one sentence why not.
pub fn open_directory(config: &Config) -> Result<SharedDirectory, String> {
    match config.directory.backend {
        DirectoryBackend::Files => Ok(Arc::new(FileDirectory::new(Arc::new(config.clone())))),
    }
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
        #[allow(unreachable_patterns)]
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
