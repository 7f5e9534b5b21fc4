//! `GET users`, `POST users` (`{"name", "password", "admin"}`) and
//! `DELETE users/NAME`: [`admin::users`]. A running server takes a user
//! change at once (the users module tells it), no reload needed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::info;

use super::auth::Admin;
use super::reply::{ApiError, Body};
use super::{blocking, Api};
use crate::admin;
use crate::admin::users::{NewUser, UserAdded, UserInfo, UserRemoved};

/// `GET users`.
pub(crate) async fn list(
    State(api): State<Api>,
    _: Admin,
) -> Result<Json<Vec<UserInfo>>, ApiError> {
    let path = api.config_path.clone();
    blocking(move || admin::users::list(&path)).await.map(Json)
}

/// `POST users`: 201 with the name as stored.
pub(crate) async fn add(
    State(api): State<Api>,
    admin: Admin,
    Body(user): Body<NewUser>,
) -> Result<(StatusCode, Json<UserAdded>), ApiError> {
    let path = api.config_path.clone();
    let (name, right) = (user.name.clone(), user.admin);
    let added = blocking(move || admin::users::add(&path, user))
        .await
        .inspect_err(|e| {
            info!(target: "portcullis::api", admin = %admin.name, client = %admin.peer.ip(), change = %format!("user add {name}"), reason = %e.message(), "admin API change refused");
        })?;
    info!(target: "portcullis::api", admin = %admin.name, client = %admin.peer.ip(), change = %format!("user add {}{}", added.name, if right { " --admin" } else { "" }), "admin API added a user");
    Ok((StatusCode::CREATED, Json(added)))
}

/// `DELETE users/NAME`: 404 for a name that is not a user.
pub(crate) async fn remove(
    State(api): State<Api>,
    admin: Admin,
    Path(name): Path<String>,
) -> Result<Json<UserRemoved>, ApiError> {
    let path = api.config_path.clone();
    let removed = blocking(move || admin::users::remove(&path, &name)).await?;
    info!(target: "portcullis::api", admin = %admin.name, client = %admin.peer.ip(), change = %format!("user remove {}", removed.name), "admin API removed a user");
    Ok(Json(removed))
}
