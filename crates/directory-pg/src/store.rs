//! One connection to the directory database, used by blocking code (the
//! command line, or a thread of its own in the server): each call runs to
//! completion on a small runtime this store owns, so it must not be called
//! from inside an async task.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use portcullis_config::Relay;
use portcullis_directory::{users::UserDb, DirectoryError, Site};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Runtime;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::{AsyncMessage, Client, Connection, IsolationLevel, Transaction};

use crate::schema;

/// Any number: the advisory lock that serialises `init` across nodes.
const INIT_LOCK: i64 = 0x706f_7274_6375;

/// How long connecting may take unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle time before TCP keepalives probe a silent connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// Names the database in the users-file parser's errors.
const USERS_ORIGIN: &str = "the directory database's users table";

/// A node's heartbeat row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSeen {
    /// The node's host name.
    pub name: String,
    /// The policy version it serves (None: none loaded yet).
    pub applied: Option<i64>,
    /// When it last reported.
    pub seen_at: SystemTime,
}

/// A connection to the directory database.
pub struct PgStore {
    pub(crate) runtime: Runtime,
    pub(crate) client: Client,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host/db`, with TLS as
    /// its `sslmode` and `sslrootcert` say). The error never repeats the
    /// URL, which holds a password.
    pub fn connect(url: &str) -> Result<PgStore, DirectoryError> {
        PgStore::connect_announcing(url, None)
    }

    /// Connects to `url`, forwarding every notification the server sends on
    /// this connection to `announced`, which is closed when the connection
    /// ends (see [`crate::listener`]).
    pub(crate) fn connect_announcing(
        url: &str,
        announced: Option<UnboundedSender<()>>,
    ) -> Result<PgStore, DirectoryError> {
        let fail = |e: String| DirectoryError::Failed(format!("the directory database: {e}"));
        let target = crate::url::parse(url).map_err(fail)?;
        let tls = crate::tls::connector(&target).map_err(fail)?;
        let mut config = target.config.clone();
        // A database host that drops packets must not hang a load or the
        // watcher for minutes: give up on it and fail closed instead.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives_idle(KEEPALIVE_IDLE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                DirectoryError::Failed(format!("cannot start the database client: {e}"))
            })?;
        let (client, connection) = runtime.block_on(config.connect(tls)).map_err(|e| {
            match crate::tls::explain(&e, &target) {
                Some(why) => fail(format!("cannot be reached: {why}")),
                None => failed("cannot be reached", &e),
            }
        })?;
        runtime.spawn(drive(connection, announced));
        Ok(PgStore { runtime, client })
    }

    /// Creates the schema, or brings an older one up to date; running it
    /// again changes nothing. Returns the schema version.
    pub fn init(&mut self) -> Result<i32, DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let tx = client.transaction().await.map_err(|e| failed("init", &e))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])
                .await
                .map_err(|e| failed("init", &e))?;
            tx.batch_execute(schema::VERSION_TABLE)
                .await
                .map_err(|e| failed("init", &e))?;
            let applied = applied_version(&tx).await?;
            let mut version = applied;
            for (to, sql) in schema::pending(applied) {
                tx.batch_execute(sql)
                    .await
                    .map_err(|e| failed(&format!("migration {to}"), &e))?;
                version = to;
            }
            tx.execute("DELETE FROM portcullis_schema", &[])
                .await
                .map_err(|e| failed("init", &e))?;
            tx.execute("INSERT INTO portcullis_schema VALUES ($1)", &[&version])
                .await
                .map_err(|e| failed("init", &e))?;
            tx.commit().await.map_err(|e| failed("init", &e))?;
            Ok(version)
        })
    }

    /// The schema version (0: `directory init` never ran).
    pub fn schema_version(&mut self) -> Result<i32, DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let tx = client.transaction().await.map_err(|e| failed("read", &e))?;
            let exists: bool = tx
                .query_one("SELECT to_regclass('portcullis_schema') IS NOT NULL", &[])
                .await
                .map_err(|e| failed("read", &e))?
                .get(0);
            if exists {
                applied_version(&tx).await
            } else {
                Ok(0)
            }
        })
    }

    /// The policy version: bumped by every change to the site.
    pub fn policy_version(&mut self) -> Result<i64, DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let row = client
                .query_one("SELECT version FROM policy_version", &[])
                .await
                .map_err(|e| failed("read", &e))?;
            Ok(row.get(0))
        })
    }

    /// Every node that ever reported, with the policy version it has
    /// applied and when it was last seen, by name.
    pub fn nodes(&mut self) -> Result<Vec<NodeSeen>, DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let rows = client
                .query(
                    "SELECT name, applied, seen_at FROM nodes ORDER BY name",
                    &[],
                )
                .await
                .map_err(|e| failed("read", &e))?;
            Ok(rows
                .iter()
                .map(|r| NodeSeen {
                    name: r.get(0),
                    applied: r.get(1),
                    seen_at: r.get(2),
                })
                .collect())
        })
    }

    /// Replaces the whole site in one transaction (`directory import`);
    /// returns the policy version after it.
    pub fn write_site(&mut self, site: &Site) -> Result<i64, DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let tx = client
                .transaction()
                .await
                .map_err(|e| failed("write", &e))?;
            crate::rows::replace(&tx, site)
                .await
                .map_err(|e| failed("write", &e))?;
            let version: i64 = tx
                .query_one("SELECT version FROM policy_version", &[])
                .await
                .map_err(|e| failed("write", &e))?
                .get(0);
            tx.commit().await.map_err(|e| failed("write", &e))?;
            Ok(version)
        })
    }

    /// Changes the site in one transaction that holds the policy version's
    /// row lock from the read to the write, so no concurrent change is lost:
    /// `change` gets the site as it is and either edits it (then it is
    /// written) or refuses (then nothing is).
    pub fn modify<T>(
        &mut self,
        change: impl FnOnce(&mut Site) -> Result<T, DirectoryError>,
    ) -> Result<T, DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let tx = client
                .transaction()
                .await
                .map_err(|e| failed("write", &e))?;
            tx.execute("SELECT version FROM policy_version FOR UPDATE", &[])
                .await
                .map_err(|e| failed("write", &e))?;
            let rows = crate::rows::read(&tx)
                .await
                .map_err(|e| failed("read", &e))?;
            let (mut site, _) = site_of(rows)?;
            let out = change(&mut site)?;
            crate::rows::replace(&tx, &site)
                .await
                .map_err(|e| failed("write", &e))?;
            tx.commit().await.map_err(|e| failed("write", &e))?;
            Ok(out)
        })
    }

    /// Records that node `name` serves policy version `applied`.
    pub fn heartbeat(&mut self, name: &str, applied: Option<i64>) -> Result<(), DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            client
                .execute(
                    "INSERT INTO nodes VALUES ($1, $2, now()) ON CONFLICT (name) \
                     DO UPDATE SET applied = $2, seen_at = now()",
                    &[&name, &applied],
                )
                .await
                .map_err(|e| failed("write", &e))?;
            Ok(())
        })
    }

    /// Reads the whole site and its policy version from one snapshot of
    /// the database.
    pub fn read_site(&mut self) -> Result<(Site, i64), DirectoryError> {
        let PgStore { runtime, client } = self;
        runtime.block_on(async {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(|e| failed("read", &e))?;
            let rows = crate::rows::read(&tx)
                .await
                .map_err(|e| failed("read", &e))?;
            tx.commit().await.map_err(|e| failed("read", &e))?;
            site_of(rows)
        })
    }
}

/// Runs the connection until it ends, passing on notifications: the
/// plain `Connection` future drops them.
async fn drive<S, T>(mut connection: Connection<S, T>, announced: Option<UnboundedSender<()>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
        if let (AsyncMessage::Notification(_), Some(to)) = (&message, &announced) {
            let _ = to.send(());
        }
    }
}

async fn applied_version(tx: &Transaction<'_>) -> Result<i32, DirectoryError> {
    let row = tx
        .query_opt("SELECT max(version) FROM portcullis_schema", &[])
        .await
        .map_err(|e| failed("read", &e))?;
    Ok(row.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0))
}

/// Builds the site from the rows read, checking the users' credentials
/// exactly as the users file is checked.
fn site_of(rows: crate::rows::Rows) -> Result<(Site, i64), DirectoryError> {
    let mut users_text = UserDb::new().to_text();
    for line in &rows.user_lines {
        users_text.push_str(line);
        users_text.push('\n');
    }
    let users = UserDb::from_text(&users_text, Path::new(USERS_ORIGIN))
        .map_err(|e| DirectoryError::Failed(e.to_string()))?;
    let setting = |key: &str| rows.relay_settings.get(key).map(String::as_str);
    let flag = |key: &str, default: bool| setting(key).map_or(default, |v| v == "true");
    let relay = Relay {
        local_only: flag("local_only", false),
        restricted: flag("restricted", true),
        allow: rows.relay_allow.into(),
        authenticated: flag("authenticated", true),
        smarthost: setting("smarthost").map(str::to_string),
        smarthost_user: setting("smarthost_user").map(str::to_string),
        smarthost_password_file: setting("smarthost_password_file").map(PathBuf::from),
    };
    let site = Site {
        local_domains: rows.domains,
        users,
        aliases: rows.aliases.into_iter().collect::<BTreeMap<_, _>>(),
        relay,
        routes: rows.routes.into_iter().collect(),
    };
    Ok((site, rows.version))
}

/// One sentence for a database failure, with the server's own message
/// when it sent one (tokio-postgres keeps it in the error's source).
fn failed(what: &str, e: &(dyn std::error::Error + 'static)) -> DirectoryError {
    let mut text = format!("the directory database: {what}: {e}");
    let mut next = e.source();
    while let Some(cause) = next {
        let said = cause.to_string();
        if !text.ends_with(&said) {
            text = format!("{text}: {said}");
        }
        next = cause.source();
    }
    DirectoryError::Failed(text)
}
