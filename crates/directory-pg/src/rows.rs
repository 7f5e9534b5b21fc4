//! The site as rows: written whole (`directory import`) and read whole,
//! each inside the caller's transaction.

use std::collections::BTreeMap;

use portcullis_directory::Site;
use tokio_postgres::{Error, Transaction};

/// The site's rows as read, before they are checked.
pub(crate) struct Rows {
    pub(crate) version: i64,
    pub(crate) domains: Vec<String>,
    /// Each user's line in the users file's format.
    pub(crate) user_lines: Vec<String>,
    pub(crate) aliases: Vec<(String, Vec<String>)>,
    pub(crate) relay_settings: BTreeMap<String, String>,
    /// In list order.
    pub(crate) relay_allow: Vec<String>,
    pub(crate) routes: Vec<(String, String)>,
}

/// Reads every table of the site.
pub(crate) async fn read(tx: &Transaction<'_>) -> Result<Rows, Error> {
    let version = tx
        .query_one("SELECT version FROM policy_version", &[])
        .await?
        .get(0);
    let strings = |sql: &'static str| async move {
        let rows = tx.query(sql, &[]).await?;
        Ok::<Vec<String>, Error>(rows.iter().map(|r| r.get(0)).collect())
    };
    let pairs = |sql: &'static str| async move {
        let rows = tx.query(sql, &[]).await?;
        Ok::<Vec<(String, String)>, Error>(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    };
    let aliases = tx
        .query("SELECT name, targets FROM aliases ORDER BY name", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(Rows {
        version,
        domains: strings("SELECT name FROM domains ORDER BY name").await?,
        user_lines: strings("SELECT credentials FROM users ORDER BY name").await?,
        aliases,
        relay_settings: pairs("SELECT key, value FROM relay_settings")
            .await?
            .into_iter()
            .collect(),
        relay_allow: strings("SELECT entry FROM relay_allow ORDER BY position").await?,
        routes: pairs("SELECT domain, target FROM routes ORDER BY domain").await?,
    })
}

/// Replaces every table of the site with `site`.
pub(crate) async fn replace(tx: &Transaction<'_>, site: &Site) -> Result<(), Error> {
    tx.batch_execute(
        "DELETE FROM domains; DELETE FROM users; DELETE FROM aliases; \
         DELETE FROM relay_settings; DELETE FROM relay_allow; DELETE FROM routes;",
    )
    .await?;
    for domain in &site.local_domains {
        tx.execute("INSERT INTO domains VALUES ($1)", &[domain])
            .await?;
    }
    insert_users(tx, site).await?;
    for (name, targets) in &site.aliases {
        tx.execute("INSERT INTO aliases VALUES ($1, $2)", &[name, targets])
            .await?;
    }
    for (key, value) in relay_settings(site) {
        tx.execute(
            "INSERT INTO relay_settings VALUES ($1, $2)",
            &[&key, &value],
        )
        .await?;
    }
    for (position, entry) in site.relay.allow.iter().enumerate() {
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO relay_allow VALUES ($1, $2)",
            &[&position, entry],
        )
        .await?;
    }
    for (domain, target) in &site.routes {
        tx.execute("INSERT INTO routes VALUES ($1, $2)", &[domain, target])
            .await?;
    }
    Ok(())
}

/// One row per user: the name, the user's line of the users file, and
/// the admin right (also in the line; a column, so SQL can see it).
async fn insert_users(tx: &Transaction<'_>, site: &Site) -> Result<(), Error> {
    let text = site.users.to_text();
    // The users file's header and format comment come first.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(':').next().unwrap_or_default();
        let admin = site.users.is_admin(name);
        tx.execute(
            "INSERT INTO users VALUES ($1, $2, $3)",
            &[&name, &line, &admin],
        )
        .await?;
    }
    Ok(())
}

fn relay_settings(site: &Site) -> Vec<(String, String)> {
    let relay = &site.relay;
    let mut out = vec![
        ("local_only".to_string(), relay.local_only.to_string()),
        ("restricted".to_string(), relay.restricted.to_string()),
        ("authenticated".to_string(), relay.authenticated.to_string()),
    ];
    let optional = [
        ("smarthost", relay.smarthost.clone()),
        ("smarthost_user", relay.smarthost_user.clone()),
        (
            "smarthost_password_file",
            relay
                .smarthost_password_file
                .as_ref()
                .map(|p| p.display().to_string()),
        ),
    ];
    out.extend(
        optional
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value?))),
    );
    out
}
