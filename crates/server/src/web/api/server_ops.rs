//! What the running server does: `GET status`, `GET queue`, `POST
//! queue/flush`, `DELETE queue/ID`, `POST reload` (through
//! [`server::perform`], as the control socket does) and `GET decisions`.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use tracing::info;

use super::auth::Admin;
use super::reply::ApiError;
use super::Api;
use crate::admin::decisions::{RelayDecision, CAPACITY};
use crate::admin::protocol::{ReloadReport, Reply, Request};
use crate::admin::queue::{QueueId, QueueOp, QueueOutput, QueuedMessage};
use crate::admin::status::Status;
use crate::admin::{server, Error};

/// How many decisions `GET decisions` gives without `?limit=`.
const DEFAULT_LIMIT: usize = 100;

pub(crate) async fn perform(api: &Api, request: Request) -> Result<Reply, ApiError> {
    Ok(server::perform(&api.shared, &api.main_loop, request).await?)
}

fn unexpected(reply: Reply) -> ApiError {
    Error::internal(format!("unexpected answer from the server: {reply:?}")).into()
}

/// `GET status`.
pub(crate) async fn status(State(api): State<Api>, _: Admin) -> Result<Json<Status>, ApiError> {
    match perform(&api, Request::Status).await? {
        Reply::Status(status) => Ok(Json(status)),
        other => Err(unexpected(other)),
    }
}

pub(crate) async fn queue_op(api: &Api, op: QueueOp) -> Result<QueueOutput, ApiError> {
    match perform(api, Request::Queue(op)).await? {
        Reply::Queue(output) => Ok(output),
        other => Err(unexpected(other)),
    }
}

/// `GET queue`: every queued message with its recipients.
pub(crate) async fn queue(
    State(api): State<Api>,
    _: Admin,
) -> Result<Json<Vec<QueuedMessage>>, ApiError> {
    match queue_op(&api, QueueOp::List).await? {
        QueueOutput::List(messages) => Ok(Json(messages)),
        other => Err(Error::internal(format!("unexpected queue answer: {other:?}")).into()),
    }
}

/// `POST queue/flush`.
pub(crate) async fn flush(
    State(api): State<Api>,
    admin: Admin,
) -> Result<Json<QueueOutput>, ApiError> {
    let output = queue_op(&api, QueueOp::Flush).await?;
    info!(target: "portcullis::api", admin = %admin.name, client = %admin.peer.ip(), change = "queue flush", "admin API flushed the queue");
    Ok(Json(output))
}

/// `DELETE queue/ID`: 404 for an id that is not queued.
pub(crate) async fn delete(
    State(api): State<Api>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<QueueOutput>, ApiError> {
    let id = QueueId::parse(&id)?;
    let output = queue_op(&api, QueueOp::Delete { id: id.clone() }).await?;
    info!(target: "portcullis::api", admin = %admin.name, client = %admin.peer.ip(), change = %format!("queue delete {}", id.as_str()), "admin API deleted a queued message");
    Ok(Json(output))
}

/// `POST reload`.
pub(crate) async fn reload(
    State(api): State<Api>,
    admin: Admin,
) -> Result<Json<ReloadReport>, ApiError> {
    let result = perform(&api, Request::Reload).await;
    info!(target: "portcullis::api", admin = %admin.name, client = %admin.peer.ip(), change = "reload", applied = result.is_ok(), "admin API reload");
    match result? {
        Reply::Reloaded(report) => Ok(Json(report)),
        other => Err(unexpected(other)),
    }
}

/// `?limit=N` as typed, to refuse a bad one with a sentence.
#[derive(Debug, Deserialize)]
pub(crate) struct Limit {
    limit: Option<String>,
}

/// `GET decisions?limit=N`: the latest relay decisions, newest first.
pub(crate) async fn decisions(
    State(api): State<Api>,
    _: Admin,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<RelayDecision>>, ApiError> {
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=CAPACITY).contains(n))
            .ok_or_else(|| {
                ApiError::bad_input(format!(
                    "limit \"{raw}\" is not a whole number from 1 to {CAPACITY}"
                ))
            })?,
    };
    Ok(Json(api.shared.decisions.latest(limit)))
}
