//! The node's last good site from the database, kept in
//! `<data_dir>/directory-snapshot/`, so a node started while the database is
//! down serves it under the same fail-closed rule as one that lost the
//! database while running: its age counts from when the database last
//! confirmed it. Written as the file backend keeps a site (`site.toml`,
//! `users`) plus `state` (policy version and confirmation time), each file
//! replaced atomically.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_config::{write_atomic, Config};
use portcullis_directory::users::UserDb;
use portcullis_directory::{DirectoryError, Site};

use crate::settings::{settings_text, take_settings};

/// The snapshot directory of a node.
pub(crate) fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("directory-snapshot")
}

/// Keeps `site` at `version`, confirmed at `confirmed`.
pub(crate) fn save(
    dir: &Path,
    site: &Site,
    version: i64,
    confirmed: SystemTime,
) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "cannot keep the directory snapshot in {}: {e}",
            dir.display()
        )
    };
    fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let settings = settings_text(site, &dir.join("site.toml")).map_err(|e| fail(&e))?;
    write_atomic(&dir.join("site.toml"), &settings).map_err(|e| fail(&e))?;
    site.users.save(&dir.join("users")).map_err(|e| fail(&e))?;
    let secs = confirmed
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Written last: a state file never names a site older than the files.
    write_atomic(&dir.join("state"), &format!("{version} {secs}\n")).map_err(|e| fail(&e))
}

/// The site kept in `dir`, its version and when it was confirmed.
pub(crate) fn load(dir: &Path) -> Result<(Site, i64, SystemTime), DirectoryError> {
    let fail = |e: &dyn std::fmt::Display| {
        DirectoryError::Failed(format!(
            "no usable directory snapshot in {}: {e}",
            dir.display()
        ))
    };
    let state = fs::read_to_string(dir.join("state")).map_err(|e| fail(&e))?;
    let mut words = state.split_whitespace().map(str::parse::<i64>);
    let (Some(Ok(version)), Some(Ok(secs))) = (words.next(), words.next()) else {
        return Err(fail(&"its state file is malformed"));
    };
    let path = dir.join("site.toml");
    let text = fs::read_to_string(&path).map_err(|e| fail(&e))?;
    let fragment = Config::from_str(&text, &path).map_err(|e| fail(&e))?;
    let users = UserDb::load(&dir.join("users")).map_err(|e| fail(&e))?;
    let mut site = Site {
        local_domains: Vec::new(),
        users,
        aliases: Default::default(),
        relay: fragment.relay.clone(),
        routes: Default::default(),
    };
    take_settings(&mut site, &fragment);
    let confirmed = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    Ok((site, version, confirmed))
}
