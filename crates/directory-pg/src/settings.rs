//! The site's settings as configuration text: what `directory export`
//! writes, and what an edit of a directory setting is applied to, so the
//! database takes exactly the edits and validation `config set` makes on
//! the file backend.

use std::path::Path;

use portcullis_config::{edit_at, Config, EditError, EditOp};
use portcullis_directory::Site;

/// `local_domains`, `[relay]`, `[aliases]` and `[routes]` of `site` as TOML
/// (`path` names the text in errors).
pub fn settings_text(site: &Site, path: &Path) -> Result<String, EditError> {
    let flag = |b: bool| vec![b.to_string()];
    let relay = &site.relay;
    let mut ops = vec![
        EditOp::Set("local_domains".into(), site.local_domains.clone()),
        EditOp::Set("relay.local_only".into(), flag(relay.local_only)),
        EditOp::Set("relay.restricted".into(), flag(relay.restricted)),
        EditOp::Set("relay.authenticated".into(), flag(relay.authenticated)),
        EditOp::Set("relay.allow".into(), relay.allow.to_vec()),
    ];
    let optional = [
        ("relay.smarthost", relay.smarthost.clone()),
        ("relay.smarthost_user", relay.smarthost_user.clone()),
        (
            "relay.smarthost_password_file",
            relay
                .smarthost_password_file
                .as_ref()
                .map(|p| p.display().to_string()),
        ),
    ];
    ops.extend(
        optional
            .into_iter()
            .filter_map(|(key, value)| Some(EditOp::Set(key.into(), vec![value?]))),
    );
    ops.extend(
        site.aliases
            .iter()
            .map(|(name, targets)| EditOp::Set(format!("aliases.{name}"), targets.clone())),
    );
    ops.extend(
        site.routes
            .iter()
            .map(|(domain, target)| EditOp::Set(format!("routes.{domain}"), vec![target.clone()])),
    );
    let header = "# The shared directory's site, written by `portcullis directory export`.\n";
    ops.into_iter()
        .try_fold(header.to_string(), |text, op| edit_at(&text, op, path))
}

/// `node` with its directory settings taken from `site`: the whole
/// configuration the server would run with.
pub fn with_site(node: &Config, site: &Site) -> Config {
    let mut config = node.clone();
    config.local_domains = site.local_domains.clone();
    config.relay = site.relay.clone();
    config.aliases = site.aliases.clone();
    config.routes = site.routes.clone();
    config
}

/// The directory settings of `config` written into `site`.
pub fn take_settings(site: &mut Site, config: &Config) {
    site.local_domains = config.local_domains.clone();
    site.relay = config.relay.clone();
    site.aliases = config.aliases.clone();
    site.routes = config.routes.clone();
}
