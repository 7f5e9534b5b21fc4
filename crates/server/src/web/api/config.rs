//! `GET config`, `GET config/KEY`, `PUT config/KEY`, `POST config/KEY/add`
//! and `config/KEY/remove` (each `{"values": [...]}`), and `POST
//! check-relay`: [`admin::config`] and [`admin::relay`], with each change
//! reloaded at once.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::Json;
use portcullis_config::EditOp;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::auth::Admin;
use super::reply::{ApiError, Body};
use super::{blocking, Api};
use crate::admin::config::{Edited, Setting};
use crate::admin::protocol::{Reply, Request};
use crate::admin::relay::{RelayQuestion, Verdict};
use crate::admin::{self, server};

/// The body of a change: the values, as `config set|add|remove KEY VALUE...`
/// takes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Values {
    values: Vec<String>,
}

/// A change written and put in force.
#[derive(Debug, Serialize)]
pub(crate) struct Applied {
    /// What the edit changed.
    #[serde(flatten)]
    edited: Edited,
    /// The reload's report lines (empty when nothing changed).
    reload: Vec<String>,
}

/// `GET config`: every effective key.
pub(crate) async fn read_all(
    State(api): State<Api>,
    _: Admin,
) -> Result<Json<Vec<Setting>>, ApiError> {
    let path = api.config_path.clone();
    blocking(move || admin::config::read(&path, None, false))
        .await
        .map(Json)
}

/// `GET config/KEY`: one key, or a whole section.
pub(crate) async fn read_key(
    State(api): State<Api>,
    _: Admin,
    Path(key): Path<String>,
) -> Result<Json<Vec<Setting>>, ApiError> {
    let path = api.config_path.clone();
    blocking(move || admin::config::read(&path, Some(&key), false))
        .await
        .map(Json)
}

/// `PUT config/KEY`.
pub(crate) async fn set(
    State(api): State<Api>,
    admin: Admin,
    Path(key): Path<String>,
    Body(v): Body<Values>,
) -> Result<Json<Applied>, ApiError> {
    apply(api, admin, EditOp::Set(key, v.values)).await
}

/// `POST config/KEY/add`.
pub(crate) async fn add(
    State(api): State<Api>,
    admin: Admin,
    Path(key): Path<String>,
    Body(v): Body<Values>,
) -> Result<Json<Applied>, ApiError> {
    apply(api, admin, EditOp::Add(key, v.values)).await
}

/// `POST config/KEY/remove`.
pub(crate) async fn remove(
    State(api): State<Api>,
    admin: Admin,
    Path(key): Path<String>,
    Body(v): Body<Values>,
) -> Result<Json<Applied>, ApiError> {
    apply(api, admin, EditOp::Remove(key, v.values)).await
}

/// Edits the file as `config …` does, then reloads as `reload` does.
async fn apply(api: Api, admin: Admin, op: EditOp) -> Result<Json<Applied>, ApiError> {
    let (edited, reload) = apply_edit(&api, &admin.name, admin.peer.ip(), op).await?;
    let reload = reload.map_err(ApiError::from)?;
    Ok(Json(Applied { edited, reload }))
}

/// A change as the API and the console make it: the file edited as
/// `config …` edits it (refused with the admin API's sentence), logged
/// with `admin` and `client`, then, if it changed anything, a reload whose
/// report lines (or failure) come back with the edit.
pub(crate) async fn apply_edit(
    api: &Api,
    admin: &str,
    client: IpAddr,
    op: EditOp,
) -> Result<(Edited, Result<Vec<String>, admin::Error>), ApiError> {
    let change = describe(&op);
    let path = api.config_path.clone();
    let allow_open_relay = api.shared.allow_open_relay;
    let edited = match blocking(move || admin::config::edit(&path, op, allow_open_relay)).await {
        Ok(edited) => edited,
        Err(e) => {
            info!(target: "portcullis::api", admin = %admin, client = %client, change = %change, reason = %e.message(), "admin change refused");
            return Err(e);
        }
    };
    info!(target: "portcullis::api", admin = %admin, client = %client, change = %change, before = ?edited.before, after = %edited.after, "admin changed the configuration");
    if !edited.changed() {
        return Ok((edited, Ok(Vec::new())));
    }
    let reload = match server::perform(&api.shared, &api.main_loop, Request::Reload).await {
        Ok(Reply::Reloaded(report)) => Ok(report.lines),
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    Ok((edited, reload))
}

/// The change in the words of the command line, for the log.
pub(crate) fn describe(op: &EditOp) -> String {
    match op {
        EditOp::Set(k, v) => format!("config set {k} {}", v.join(" ")),
        EditOp::Add(k, v) => format!("config add {k} {}", v.join(" ")),
        EditOp::Remove(k, v) => format!("config remove {k} {}", v.join(" ")),
        EditOp::Unset(k) => format!("config unset {k}"),
    }
}

/// `POST check-relay`: what `check-relay --json` prints.
pub(crate) async fn check_relay(
    State(api): State<Api>,
    _: Admin,
    Body(question): Body<RelayQuestion>,
) -> Result<Json<Vec<Verdict>>, ApiError> {
    let path = api.config_path.clone();
    blocking(move || admin::relay::check_relay(&path, &question))
        .await
        .map(Json)
}
