//! The server: loads the configuration, binds the listeners, drives sessions,
//! reloads on SIGHUP and drains on SIGTERM/SIGINT (docs/reference.md §1, §5).
// No unsafe code, with one scoped exception: `privileges.rs` calls
// libc to look up the mail user and drop root (getpwnam_r, setgroups,
// setgid, setuid), which std does not offer. It says `allow` for itself.
#![deny(unsafe_code)]

pub mod admin;
mod auth_guard;
mod check;
mod connection;
mod control;
pub mod directory;
mod dkim;
mod dns;
mod headers;
mod heap;
mod inbound;
mod incoming;
mod limits;
mod load_notes;
mod logging;
mod maildrop;
pub mod metrics;
mod notify;
mod outbound;
mod password_gate;
mod privileges;
mod proxy;
mod refresh;
mod reload;
mod rulings;
mod runtime;
mod self_signed;
mod site;
pub mod staleness;
mod stats;
mod store;
mod tls;
mod web;

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_config::{self as config, Config};
use portcullis_store::edit_lock::EditLock;
use portcullis_store::instance_lock::InstanceLock;
use portcullis_store::spool::Spool;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info, warn};

use admin::Error;
use directory::SharedDirectory;
use refresh::SiteRefresh;
use runtime::{BuildOptions, Current, Runtime};
use stats::Stats;

/// How long SIGTERM waits for sessions in flight before closing them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a listener is for (docs/reference.md §2 `[listen]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Port 25: MX and relay per `[relay]`.
    Smtp,
    /// Port 587: STARTTLS, AUTH required.
    Submission,
    /// Port 465: implicit TLS, AUTH required.
    Submissions,
}

impl Role {
    /// The listener's name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Role::Smtp => "smtp",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
        }
    }
}

/// State shared by every connection.
pub struct Shared {
    /// The configuration in force and what was built from it, swapped by reload.
    pub current: Current,
    /// The directory backend the site is read from (the file backend is
    /// opened again by each reload, with the new file).
    pub directory: std::sync::RwLock<SharedDirectory>,
    /// Keeps the site in [`Shared::current`] in step with the directory.
    pub refresh: SiteRefresh,
    /// The outbound queue on disk.
    pub spool: Arc<Spool>,
    /// Counters for the metrics page.
    pub stats: Stats,
    /// When the server started (for `status`).
    pub started: Instant,
    /// `--allow-open-relay`: a relay list open to everyone is allowed.
    pub allow_open_relay: bool,
    /// Server-wide secret for SCRAM's fake keys of unknown users.
    pub auth_secret: portcullis_smtp::session::Secret,
    /// AUTH failure counts and bans (brute-force defence), kept across reloads.
    pub auth_throttle: auth_guard::SharedThrottle,
    /// Argon2 checks, a bounded number at a time (sized at start).
    pub password_gate: password_gate::PasswordGate,
    /// The outbound queue runner (issue 5).
    pub outbound: outbound::Outbound,
    /// Messages held whole in memory for DKIM verification at once: with
    /// 4 MiB each, this bounds what many sessions ending DATA together cost.
    pub verifying: Arc<tokio::sync::Semaphore>,
    /// The latest relay decisions, for the admin API.
    pub decisions: admin::decisions::DecisionLog,
}

impl Shared {
    /// How current the site in force is at `now` (`directory.max_stale`).
    pub fn freshness(&self, now: std::time::SystemTime) -> staleness::Freshness {
        let max = self.current.get().config.directory.max_stale;
        staleness::freshness(self.refresh.confirmed(), now, Duration::from_secs(max))
    }

    /// The directory in force, where the site comes from.
    pub fn directory(&self) -> SharedDirectory {
        self.directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `portcullis serve`.
pub fn serve(config_path: &Path, allow_open_relay: bool) -> Result<(), Error> {
    let created = write_default_config(config_path)?;
    let relay_added = add_relay_defaults(config_path)?;
    let cfg = Config::load(config_path).map_err(|e| Error::bad_input(e.to_string()))?;
    let log_file = logging::init(&cfg.log).map_err(Error::bad_input)?;
    if created {
        info!(path = %config_path.display(), "created the configuration with safe defaults");
    }
    if relay_added {
        info!(path = %config_path.display(), "no [relay] section: wrote the safe defaults (loopback and this machine's addresses)");
    }
    heap::limit_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run(cfg, config_path, allow_open_relay, log_file))
}

/// Writes the embedded default, with this machine's own addresses (single
/// hosts, never their subnets) added to `relay.allow` as the seed did, when
/// the file does not exist yet; true when it wrote it.
fn write_default_config(path: &Path) -> Result<bool, Error> {
    if path.exists() {
        return Ok(false);
    }
    let _lock = EditLock::acquire(path).map_err(|e| Error::internal(e.to_string()))?;
    // Checked again under the lock: a `config set` may have just created it.
    if path.exists() {
        return Ok(false);
    }
    let mut text = config::DEFAULT_CONFIG.to_string();
    let defaults = config::default_list("relay.allow", "localhost");
    let own: Vec<String> = runtime::interface_addresses()
        .into_iter()
        .map(|ip| ip.to_string())
        .filter(|ip| !defaults.contains(ip))
        .collect();
    if !own.is_empty() {
        text = config::edit_at(&text, config::EditOp::Add("relay.allow".into(), own), path)
            .map_err(|e| Error::internal(format!("cannot write the default configuration: {e}")))?;
    }
    config::write_atomic(path, &text)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", path.display())))?;
    Ok(true)
}

/// Writes the `[relay]` defaults into a file that has none (docs/reference.md §2).
fn add_relay_defaults(path: &Path) -> Result<bool, Error> {
    // A read-modify-write like `portcullis config add`: under the same lock.
    let _lock = EditLock::acquire(path).map_err(|e| Error::internal(e.to_string()))?;
    let text = fs::read_to_string(path)
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))?;
    match config::ensure_relay_section(&text, &runtime::interface_addresses()) {
        None => Ok(false),
        Some(new_text) => {
            config::write_atomic(path, &new_text)
                .map_err(|e| Error::internal(format!("cannot update {}: {e}", path.display())))?;
            Ok(true)
        }
    }
}

async fn run(
    cfg: Config,
    config_path: &Path,
    allow_open_relay: bool,
    log_file: Option<logging::LogFile>,
) -> Result<(), Error> {
    let data_dir = cfg.data_dir.clone();
    let instance = prepare_data_dir(&data_dir)?;
    let options = BuildOptions {
        allow_open_relay,
        generate_certificate: true,
        every_entry: false,
    };
    let directory = directory::open_served_directory(&cfg).map_err(Error::bad_input)?;
    let (loaded, confirmed) = refresh::load(directory.clone(), None)
        .await
        .map_err(Error::internal)?;
    let (runtime, notes) = Runtime::build(cfg, loaded, None, options)
        .await
        .map_err(|r| Error::bad_input(r.0))?;
    info!("{}", notes.summary());
    let spool = open_spool(&data_dir)?;
    let refresh = SiteRefresh::new(confirmed);
    let (shared, outbound_runner) =
        start_shared(runtime, (directory, refresh), spool, allow_open_relay)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (req_tx, mut requests) = tokio::sync::mpsc::channel(8);
    let api = web::api::Api {
        shared: shared.clone(),
        main_loop: req_tx.clone(),
        config_path: Arc::new(config_path.to_path_buf()),
    };
    // Bound before any privilege drop (ports below 1024 need root).
    let mut bound = reload::Bound::start(&shared, web::router(api), &shutdown_rx)
        .await
        .map_err(Error::internal)?;
    // Issue 7 §5: the listeners are bound (ports below 1024 need root); from
    // here on the server runs as `user`, before it serves or delivers anything
    // that writes files.
    {
        let started = shared.current.get();
        if let (Some(user), 0) = (&started.config.user, privileges::effective_uid()) {
            privileges::drop_to(user, &data_dir, started.config.log.file.as_deref())
                .map_err(Error::internal)?;
        }
    }
    let control = control::bind(&data_dir)
        .map_err(|e| Error::internal(format!("cannot open the control socket: {e}")))?;
    let control_task = tokio::spawn(control::serve(control, shared.clone(), req_tx));
    outbound::start(outbound_runner, shared.clone());
    maildrop::spawn(shared.clone());
    let site_poller = SiteRefresh::spawn_poller(shared.clone());
    // Before anyone is told the server is ready: a SIGHUP sent on READY=1
    // must find the handler in place, not SIGHUP's default (exit).
    let mut hup = signal(SignalKind::hangup()).map_err(|e| Error::internal(e.to_string()))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::internal(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::internal(e.to_string()))?;
    info!(pid = std::process::id(), "portcullis ready");
    // systemd Type=notify: only now are the listeners bound.
    let notifier = notify::Notifier::from_env();
    notifier.ready();

    loop {
        tokio::select! {
            _ = hup.recv() => {
                if let Some(f) = &log_file {
                    if let Err(e) = f.reopen() { warn!("cannot reopen the log file: {e}"); }
                }
                let _ = bound.reload(&shared, config_path, &shutdown_rx, &notifier).await;
            }
            Some(control::Request::Reload(answer)) = requests.recv() => {
                let result = bound.reload(&shared, config_path, &shutdown_rx, &notifier).await;
                let _ = answer.send(result);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    info!("shutting down: draining sessions");
    notifier.stopping();
    bound.close_all();
    control_task.abort();
    site_poller.abort();
    let _ = fs::remove_file(control::socket_path(&data_dir));
    let _ = shutdown_tx.send(true);
    drain(&shared).await;
    bound.drain_admin().await;
    // Removes the pid file and releases the data directory.
    drop(instance);
    info!("stopped");
    Ok(())
}

/// Creates (private) and checks the data directory, takes the instance lock
/// and prepares the maildrop; the lock is held while the server runs.
fn prepare_data_dir(data_dir: &Path) -> Result<InstanceLock, Error> {
    ensure_private_dir(data_dir).map_err(|e| {
        Error::internal(format!(
            "cannot create data_dir {}: {e}",
            data_dir.display()
        ))
    })?;
    privileges::refuse_world_writable(data_dir, "data_dir").map_err(Error::internal)?;
    privileges::refuse_world_writable(&data_dir.join("users"), "the users file")
        .map_err(Error::internal)?;
    // Before anything changes in the data directory: a second server must
    // not recover (and sweep) the queue of the running one.
    let instance = InstanceLock::acquire(data_dir).map_err(Error::internal)?;
    privileges::tighten_dir(data_dir).map_err(Error::internal)?;
    // Not fatal: without the maildrop, sendmail fails loudly while the
    // server is down, as before; everything else works.
    if let Err(e) = maildrop::prepare(data_dir) {
        error!("{e}: sendmail cannot leave mail for the server while it is down");
    }
    Ok(instance)
}

/// Opens the queue and recovers it after a crash, and sweeps what a crash
/// left in the Maildirs' tmp/.
fn open_spool(data_dir: &Path) -> Result<Spool, Error> {
    let spool = Spool::open(data_dir).map_err(|e| {
        Error::internal(format!(
            "cannot open the queue in {}: {e}",
            data_dir.display()
        ))
    })?;
    match spool.recover() {
        Ok(r) => info!(
            queued = r.queued,
            orphans_removed = r.orphan_messages.len() + r.orphan_envelopes.len(),
            tmp_removed = r.tmp_files_removed,
            unreadable = r.unreadable.len(),
            spares = r.spares,
            "queue recovered"
        ),
        Err(e) => warn!("queue recovery failed: {e}"),
    }
    // A crash mid-delivery leaves a file in a Maildir's tmp/ (never
    // acknowledged); templated Maildirs are swept at their first delivery.
    let swept = portcullis_store::maildir::remove_stale_tmp_under(&data_dir.join("mail"));
    if swept > 0 {
        info!(
            removed = swept,
            "removed temporary Maildir files left by a crash"
        );
    }
    Ok(spool)
}

/// The state every connection shares, from the runtime built at start
/// (with the site its directory held), the password-check threads and the
/// queue runner's handle (its runner is returned, to start once privileges
/// are dropped).
fn start_shared(
    runtime: Runtime,
    (directory, refresh): (SharedDirectory, SiteRefresh),
    spool: Spool,
    allow_open_relay: bool,
) -> Result<(Arc<Shared>, outbound::Pending), Error> {
    let (outbound_handle, outbound_runner) = outbound::channel();
    let limits = &runtime.config.limits;
    let password_gate =
        password_gate::PasswordGate::start(limits.password_checks, limits.password_checks_waiting)
            .map_err(|e| {
                Error::internal(format!("cannot start the password-check threads: {e}"))
            })?;
    let shared = Arc::new(Shared {
        current: Current::new(runtime),
        directory: std::sync::RwLock::new(directory),
        refresh,
        spool: Arc::new(spool),
        stats: Stats::default(),
        started: Instant::now(),
        allow_open_relay,
        auth_secret: portcullis_smtp::session::Secret::per_process(),
        auth_throttle: auth_guard::new_throttle(),
        password_gate,
        outbound: outbound_handle,
        verifying: Arc::new(tokio::sync::Semaphore::new(inbound::VERIFYING_AT_ONCE)),
        decisions: admin::decisions::DecisionLog::default(),
    });
    Ok((shared, outbound_runner))
}

/// Waits for the sessions in flight to finish, at most [`DRAIN_TIMEOUT`].
async fn drain(shared: &Shared) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while shared.stats.sessions.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bound listeners, by address and role; reload binds new ones and closes
/// dropped ones without touching the rest.
#[derive(Default)]
pub(crate) struct Listeners {
    running: HashMap<(SocketAddr, Role), tokio::task::JoinHandle<()>>,
}

impl Listeners {
    pub(crate) async fn sync(
        &mut self,
        listen: &config::Listen,
        shared: &Arc<Shared>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Vec<String>, String> {
        let mut changed = Vec::new();
        let mut wanted = Vec::new();
        for (addrs, role) in [
            (&listen.smtp, Role::Smtp),
            (&listen.submission, Role::Submission),
            (&listen.submissions, Role::Submissions),
        ] {
            wanted.extend(addrs.iter().map(|a| (*a, role)));
        }
        self.running.retain(|key, task| {
            let keep = wanted.contains(key);
            if !keep {
                info!(addr = %key.0, role = key.1.name(), "listener closed");
                changed.push(format!("closed listener {} ({})", key.0, key.1.name()));
                task.abort();
            }
            keep
        });
        for key in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            let (addr, role) = key;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} ({}): {e}", role.name()))?;
            info!(addr = %addr, role = role.name(), "listening");
            changed.push(format!("listening on {addr} ({})", role.name()));
            let task = tokio::spawn(accept_loop(
                listener,
                role,
                shared.clone(),
                shutdown.clone(),
            ));
            self.running.insert(key, task);
        }
        Ok(changed)
    }

    fn close_all(&mut self) {
        for (_, task) in self.running.drain() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    role: Role,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(connection::handle(
                    shared.clone(),
                    tcp,
                    peer,
                    role,
                    shutdown.clone(),
                ));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    Ok(())
}

/// Writes a secret file atomically with mode 0600.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
