//! Reload (docs/reference.md §5): the configuration file and the directory
//! are read again through the same validation as `serve`, and the new
//! runtime is swapped in whole; the old one stays on any error.

use std::path::Path;
use std::sync::Arc;

use portcullis_config::{self as config, Config};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::notify::Notifier;
use crate::runtime::{BuildOptions, Runtime};
use crate::web::listener::AdminListeners;
use crate::{check, directory, metrics, refresh, site, Listeners, Shared};

/// Everything the server listens on: the SMTP listeners, the metrics
/// endpoint and the admin console and API, bound at start and moved by
/// each reload to what the new configuration says.
pub(crate) struct Bound {
    listeners: Listeners,
    metrics: metrics::Endpoint,
    admin: AdminListeners,
}

impl Bound {
    /// Binds what the configuration in force names. The SMTP listeners and
    /// the metrics endpoint must bind; an admin address that cannot is
    /// logged and left out, as the mail must flow without the console.
    pub(crate) async fn start(
        shared: &Arc<Shared>,
        admin_router: axum::Router,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Bound, String> {
        let cfg = shared.current.get().config.clone();
        let mut bound = Bound {
            listeners: Listeners::default(),
            metrics: metrics::Endpoint::default(),
            admin: AdminListeners::new(admin_router),
        };
        bound.listeners.sync(&cfg.listen, shared, shutdown).await?;
        bound.metrics.sync(cfg.metrics.listen, shared).await?;
        bound.admin.sync(&cfg.admin.listen, shared, shutdown).await;
        Ok(bound)
    }

    /// Reloads (SIGHUP or `portcullis reload`), telling systemd, and moves
    /// the listeners; the report lines or why the reload was rejected.
    pub(crate) async fn reload(
        &mut self,
        shared: &Arc<Shared>,
        config_path: &Path,
        shutdown: &watch::Receiver<bool>,
        notifier: &Notifier,
    ) -> Result<Vec<String>, String> {
        notifier.reloading();
        let result = reload_and_rebind(shared, config_path, &mut self.listeners, shutdown).await;
        let result = match result {
            Ok(mut report) => {
                let want = shared.current.get().config.admin.listen.clone();
                let (changed, failed) = self.admin.sync(&want, shared, shutdown).await;
                report.listeners.extend(changed);
                report.notes.warnings.extend(failed);
                Ok(report)
            }
            Err(e) => Err(e),
        };
        let result = sync_metrics(result, shared, &mut self.metrics).await;
        notifier.reloaded(result.is_ok());
        result
    }

    /// Stops accepting anything; connections in flight go on.
    pub(crate) fn close_all(&mut self) {
        self.metrics.close();
        self.listeners.close_all();
        self.admin.close_all();
    }

    /// Waits (bounded) for the admin requests in flight after shutdown.
    pub(crate) async fn drain_admin(&self) {
        self.admin.drain().await;
    }
}

/// After a reload that was applied, moves the metrics endpoint to the new
/// `metrics.listen`; a failure to bind is a warning of the report.
async fn sync_metrics(
    result: Result<ReloadReport, String>,
    shared: &Arc<Shared>,
    endpoint: &mut metrics::Endpoint,
) -> Result<Vec<String>, String> {
    let mut report = result?;
    if let Err(e) = endpoint
        .sync(shared.current.get().config.metrics.listen, shared)
        .await
    {
        error!("reload: {e}");
        report.notes.warnings.push(e);
    }
    Ok(report.lines())
}

/// What an applied reload did, for `portcullis reload`.
pub(crate) struct ReloadReport {
    notes: check::LoadNotes,
    changes: check::Changes,
    /// Listeners bound or closed.
    listeners: Vec<String>,
}

impl ReloadReport {
    /// The relay-list report, what changed, the listeners, the warnings,
    /// then the summary.
    fn lines(&self) -> Vec<String> {
        let mut out = self.notes.relay.log_lines();
        out.extend(self.changes.lines());
        out.extend(self.listeners.iter().cloned());
        out.extend(self.notes.warnings.iter().map(|w| format!("warning: {w}")));
        out.push(self.notes.summary());
        out
    }
}

/// Reloads, then binds and closes listeners to match.
async fn reload_and_rebind(
    shared: &Arc<Shared>,
    config_path: &Path,
    listeners: &mut Listeners,
    shutdown: &watch::Receiver<bool>,
) -> Result<ReloadReport, String> {
    match reload(shared, config_path).await {
        Ok((listen, mut report)) => {
            match listeners.sync(&listen, shared, shutdown).await {
                Ok(lines) => report.listeners = lines,
                Err(e) => {
                    error!("reload: {e}");
                    report.notes.warnings.push(e);
                }
            }
            Ok(report)
        }
        Err(e) => {
            error!("reload rejected, the previous configuration stays in force: {e}");
            Err(e)
        }
    }
}

/// Re-reads the configuration and the directory and swaps in a new
/// runtime; the old one stays on any error.
pub(crate) async fn reload(
    shared: &Shared,
    config_path: &Path,
) -> Result<(config::Listen, ReloadReport), String> {
    info!("reloading {}", config_path.display());
    let cfg = Config::load(config_path).map_err(|e| e.to_string())?;
    // No directory refresh between this read and the swap.
    let mut watch = shared.refresh.lock().await;
    let old = shared.current.get();
    if cfg.data_dir != old.config.data_dir {
        return Err("data_dir cannot change on reload; restart the server".into());
    }
    let directory = directory::reopen(&shared.directory(), &old.config, &cfg)?;
    let mut unread = None;
    let (loaded, confirmed) = match refresh::load(directory.clone(), Some(old.clone())).await {
        Ok(read) => read,
        // The site in force stays (with the new file's sections, for the
        // file backend): a broken users file or a database out of reach
        // must not block the rest of a reload, nor lock anyone out.
        Err(e) => {
            let w = format!(
                "{} not reloaded, the one in force stays: {e}",
                refresh::backend_noun(&cfg)
            );
            warn!("{w}");
            unread = Some(w);
            (site::keep(&old.site, &cfg), shared.refresh.confirmed())
        }
    };
    let options = BuildOptions {
        allow_open_relay: shared.allow_open_relay,
        generate_certificate: true,
        every_entry: false,
    };
    let (rt, mut notes) = Runtime::build(cfg, loaded, Some(&old), options)
        .await
        .map_err(|r| r.0)?;
    notes.warnings.extend(unread.clone());
    let changes = check::changes(&old.config, &rt.config);
    if !changes.restart.is_empty() {
        warn!(keys = %changes.restart.join(" "), "reload: these changes need a restart");
    }
    let listen = rt.config.listen.clone();
    shared.current.set(rt);
    *shared.directory.write().unwrap_or_else(|p| p.into_inner()) = directory;
    shared.refresh.set_confirmed(confirmed);
    if unread.is_none() {
        watch.loaded();
    }
    drop(watch);
    shared.outbound.reconfigured();
    info!("reload applied");
    let report = ReloadReport {
        notes,
        changes,
        listeners: Vec::new(),
    };
    Ok((listen, report))
}
