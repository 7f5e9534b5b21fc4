//! The one connection per node that LISTENs on [`schema::CHANNEL`], so a
//! change made on any node is known everywhere at once. PostgreSQL keeps no
//! notification for a listener that is away: after a reconnect the caller
//! must read the version again itself.

use std::time::Duration;

use portcullis_directory::DirectoryError;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::Notify;

use crate::{schema, PgStore};

/// What waiting for an announcement ended with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The database announced a change (maybe several, taken together).
    Announced,
    /// Nothing was announced in the time given.
    TimedOut,
    /// The owner asked the watcher to end.
    Stopped,
    /// The connection ended: connect again.
    Lost,
}

/// A connection listening for announced changes.
pub(crate) struct Listener {
    store: PgStore,
    announced: UnboundedReceiver<()>,
}

impl Listener {
    /// Connects to `url` and LISTENs. A change committed after this
    /// returns is announced; one committed before is not, so read the
    /// version after it.
    pub(crate) fn connect(url: &str) -> Result<Listener, DirectoryError> {
        let (to, announced) = unbounded_channel();
        let mut store = PgStore::connect_announcing(url, Some(to))?;
        let listen = format!("LISTEN {}", schema::CHANNEL);
        let PgStore { runtime, client } = &mut store;
        runtime
            .block_on(client.batch_execute(&listen))
            .map_err(|e| DirectoryError::Failed(format!("the directory database: LISTEN: {e}")))?;
        Ok(Listener { store, announced })
    }

    /// The connection, for queries.
    pub(crate) fn store(&mut self) -> &mut PgStore {
        &mut self.store
    }

    /// Waits at most `at_most` for an announcement, or until `stop`.
    pub(crate) fn wait(&mut self, at_most: Duration, stop: &Notify) -> Woken {
        let Listener { store, announced } = self;
        let woken = store.runtime.block_on(async {
            tokio::select! {
                got = announced.recv() => match got {
                    Some(()) => Woken::Announced,
                    None => Woken::Lost,
                },
                () = tokio::time::sleep(at_most) => Woken::TimedOut,
                () = stop.notified() => Woken::Stopped,
            }
        });
        // Several changes in a row need one read of the version.
        while woken == Woken::Announced && announced.try_recv().is_ok() {}
        woken
    }
}
