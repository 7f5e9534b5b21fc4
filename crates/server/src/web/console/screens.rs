//! The console's screens (GET): each reads through the admin API and
//! renders its page. A failed read shows its sentence in the frame.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_config::Config;
use portcullis_relay::report::LoadReport;
use portcullis_relay::{Detail, RelayList};
use serde::Deserialize;

use super::context::{screen, Console, Ctx};
use super::pages::decisions::{DecisionRow, Filter};
use super::pages::domains::{Domains, Refusal as DomainRefusal};
use super::pages::relay::{Question, Switches};
use super::pages::user_page::{self, UserView};
use super::pages::users::{Refusal, UserRow};
use super::pages::{
    dashboard as dash, decisions as dec, domains as dom, queue as q, relay as rel, users as usr,
};
use super::session::Session;
use crate::admin;
use crate::admin::decisions::CAPACITY;
use crate::admin::protocol::{Reply, Request};
use crate::admin::queue::{QueueId, QueueOp, QueueOutput};
use crate::admin::relay::RelayQuestion;
use crate::web::api::reply::ApiError;
use crate::web::api::{blocking, server_ops};

/// A screen whose read failed: the sentence inside the frame.
pub(crate) fn failed(session: &Session, current: &str, title: &str, e: &ApiError) -> Response {
    let body = html! { p.error role="alert" { (e.message()) } };
    (e.status(), screen(session, current, title, body)).into_response()
}

/// The configuration file as it is now.
pub(crate) async fn config(c: &Console) -> Result<Config, ApiError> {
    let path = c.api.config_path.clone();
    blocking(move || admin::config::load(&path)).await
}

/// The allow list compiled as a reload compiles it, without asking DNS: a
/// name shows the addresses the running server resolved it to (a name not
/// in force yet shows that it has none). Cheap enough for every page view.
pub(crate) fn compile(c: &Console, entries: &[String]) -> LoadReport {
    let running = c.api.shared.current.get();
    RelayList::compile(entries, &HashMap::new(), Some(&running.site.policy.list)).1
}

/// The allow list compiled exactly as a reload would compile it now: its
/// names resolved through the server's resolver. For a preview, so a new
/// host name shows the addresses it will allow.
pub(crate) async fn compile_resolved(c: &Console, entries: &[String]) -> LoadReport {
    let running = c.api.shared.current.get();
    let previous = Some(running.site.policy.list.as_ref());
    // The preview shows what every entry compiles to.
    crate::site::compile_relay_list(entries, &running.dns, previous, Detail::EveryEntry)
        .await
        .1
}

pub(crate) async fn dashboard(State(c): State<Console>, ctx: Ctx) -> Response {
    let session = match ctx.page(&c) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let status = match server_ops::perform(&c.api, Request::Status).await {
        Ok(Reply::Status(s)) => s,
        Ok(_) => {
            return failed(
                &session,
                "/console/",
                "Dashboard",
                &ApiError::bad_input("unexpected answer from the server"),
            )
        }
        Err(e) => return failed(&session, "/console/", "Dashboard", &e),
    };
    let warnings: Vec<String> = match config(&c).await {
        Ok(cfg) => compile(&c, &cfg.relay.allow)
            .warnings()
            .map(|w| w.to_string())
            .collect(),
        Err(e) => vec![e.message().to_string()],
    };
    screen(
        &session,
        "/console/",
        "Dashboard",
        dash::dashboard(&status, &warnings),
    )
}

/// The "would this relay?" question, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Ask {
    #[serde(default)]
    client: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    recipient: String,
    /// The allow list's page (not a number: the first).
    #[serde(default)]
    page: String,
}

pub(crate) async fn relay(State(c): State<Console>, ctx: Ctx, Query(ask): Query<Ask>) -> Response {
    let session = match ctx.page(&c) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let mut question = Question {
        page: ask.page.trim().parse().unwrap_or(1),
        client: ask.client.trim().to_string(),
        auth: ask.auth.trim().to_string(),
        recipient: ask.recipient.trim().to_string(),
        answer: None,
    };
    if !question.client.is_empty() || !question.recipient.is_empty() {
        let path = c.api.config_path.clone();
        let asked = RelayQuestion {
            client: question.client.clone(),
            auth: Some(question.auth.clone()).filter(|a| !a.is_empty()),
            recipients: vec![question.recipient.clone()],
        };
        let answer = blocking(move || admin::relay::check_relay(&path, &asked)).await;
        question.answer = Some(answer.map_err(|e| e.message().to_string()));
    }
    relay_screen(&c, &session, &question, None, html! {}).await
}

/// The Relay screen with `question`, an add form refusal, and `above`
/// (a change report) on top.
pub(crate) async fn relay_screen(
    c: &Console,
    session: &Session,
    question: &Question,
    add_error: Option<(&str, &str)>,
    above: Markup,
) -> Response {
    let cfg = match config(c).await {
        Ok(cfg) => cfg,
        Err(e) => return failed(session, "/console/relay", "Relay", &e),
    };
    let switches = Switches {
        restricted: cfg.relay.restricted,
        local_only: cfg.relay.local_only,
        authenticated: cfg.relay.authenticated,
    };
    let report = compile(c, &cfg.relay.allow);
    let body = html! {
        (above)
        (rel::relay(&session.csrf, &switches, &report, question, add_error))
    };
    screen(session, "/console/relay", "Relay", body)
}

/// The Users screen's filter and page, as typed (a bad page is the first).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsersQuery {
    q: Option<String>,
    page: Option<String>,
}

pub(crate) async fn users(
    State(c): State<Console>,
    ctx: Ctx,
    Query(query): Query<UsersQuery>,
) -> Response {
    let view = UserView::from_query(query.q.as_deref(), query.page.as_deref());
    match ctx.page(&c) {
        Ok(s) => users_screen(&c, &s, &view, None, html! {}).await,
        Err(r) => *r,
    }
}

/// The Users screen's `view` with a refusal next to its field and `above`
/// on top.
pub(crate) async fn users_screen(
    c: &Console,
    session: &Session,
    view: &UserView,
    refusal: Option<&Refusal<'_>>,
    above: Markup,
) -> Response {
    let path = c.api.config_path.clone();
    let rows: Vec<UserRow> = match blocking(move || admin::users::list(&path)).await {
        Ok(list) => list
            .into_iter()
            .map(|u| UserRow {
                name: u.name,
                admin: u.admin,
            })
            .collect(),
        Err(e) => return failed(session, "/console/users", "Users", &e),
    };
    let shown = user_page::select(rows, view);
    let body = html! {
        (above)
        (user_page::navigation(view, &shown))
        (usr::users(&session.csrf, &shown.rows, refusal))
    };
    screen(session, "/console/users", "Users", body)
}

pub(crate) async fn queue(State(c): State<Console>, ctx: Ctx) -> Response {
    match ctx.page(&c) {
        Ok(s) => queue_screen(&c, &s, html! {}).await,
        Err(r) => *r,
    }
}

/// The Queue screen with `above` on top.
pub(crate) async fn queue_screen(c: &Console, session: &Session, above: Markup) -> Response {
    let messages = match server_ops::queue_op(&c.api, QueueOp::List).await {
        Ok(QueueOutput::List(m)) => m,
        Ok(_) => Vec::new(),
        Err(e) => return failed(session, "/console/queue", "Queue", &e),
    };
    let body = html! { (above) (q::queue(&session.csrf, &messages)) };
    screen(session, "/console/queue", "Queue", body)
}

/// The decisions filter, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FilterQuery {
    #[serde(default)]
    client: String,
    #[serde(default)]
    rule: String,
}

pub(crate) async fn decisions(
    State(c): State<Console>,
    ctx: Ctx,
    Query(f): Query<FilterQuery>,
) -> Response {
    let session = match ctx.page(&c) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let rows: Vec<DecisionRow> = c
        .api
        .shared
        .decisions
        .latest(CAPACITY)
        .into_iter()
        .map(|d| DecisionRow {
            at: d.time,
            client: d.client,
            recipient: d.recipient,
            decision: d.decision,
            rule: d.rule,
        })
        .collect();
    let filter = Filter {
        client: f.client,
        rule: f.rule,
    };
    screen(
        &session,
        "/console/decisions",
        "Decisions",
        dec::decisions(&rows, &filter),
    )
}

pub(crate) async fn domains(State(c): State<Console>, ctx: Ctx) -> Response {
    match ctx.page(&c) {
        Ok(s) => domains_screen(&c, &s, None, html! {}).await,
        Err(r) => *r,
    }
}

/// The domains screen with a refusal next to its form and `above` on top.
pub(crate) async fn domains_screen(
    c: &Console,
    session: &Session,
    refusal: Option<&DomainRefusal<'_>>,
    above: Markup,
) -> Response {
    let cfg = match config(c).await {
        Ok(cfg) => cfg,
        Err(e) => return failed(session, "/console/domains", "Aliases, domains, routes", &e),
    };
    let d = Domains {
        local: cfg.local_domains.clone(),
        aliases: cfg.aliases.clone().into_iter().collect(),
        routes: cfg.routes.clone().into_iter().collect(),
    };
    let body = html! { (above) (dom::domains(&session.csrf, &d, refusal)) };
    screen(
        session,
        "/console/domains",
        "Aliases, domains, routes",
        body,
    )
}

/// `GET /console/queue/{id}`: one queued message, its envelope and content.
pub(crate) async fn queue_message(
    State(c): State<Console>,
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let session = match ctx.page(&c) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let shown = match QueueId::parse(&id) {
        Ok(id) => server_ops::queue_op(&c.api, QueueOp::Show { id }).await,
        Err(e) => Err(e.into()),
    };
    match shown {
        Ok(QueueOutput::Show { message, content }) => {
            let body = html! {
                (q::queue(&session.csrf, std::slice::from_ref(&message)))
                pre.content { (content) }
            };
            screen(&session, "/console/queue", "Queued message", body)
        }
        Ok(_) => queue_screen(&c, &session, html! {}).await,
        Err(e) => failed(&session, "/console/queue", "Queued message", &e),
    }
}
