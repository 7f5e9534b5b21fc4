//! The writer of a large message's scratch file: a blocking thread that
//! takes the content through a channel of one chunk as the session hands
//! it over. The session goes on reading while it writes, and a stream of
//! chunks costs at most one thread wake-up each, instead of a task hop to
//! the blocking pool and back per chunk (a quarter of the server's CPU on
//! 10 MiB messages).
//!
//! Idle for [`IDLE`] (a client that pauses), the writer ends and hands the
//! file back, so that a slow sender never holds a thread of the pool; the
//! next chunk starts another run on the same file.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use portcullis_store::spool::Spool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Front, ScratchFile};

/// How long a writer waits for the next chunk before it ends.
pub(super) const IDLE: Duration = Duration::from_millis(50);

/// What a writer's run starts from.
pub(super) enum Start {
    /// The file is made now: `front`, then the first octets (`head`), go first.
    New {
        spool: Arc<Spool>,
        front: Option<Front>,
        head: Vec<u8>,
    },
    /// The file of an earlier run, to go on with.
    Open(ScratchFile),
}

/// A running writer.
pub(super) struct Writer {
    tx: mpsc::Sender<Vec<u8>>,
    task: JoinHandle<io::Result<ScratchFile>>,
}

impl Writer {
    /// Starts a run on a blocking thread, writing `first` after `start`.
    pub(super) fn spawn(start: Start, first: Vec<u8>) -> Writer {
        let (tx, rx) = mpsc::channel(1);
        let handle = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || run(&handle, start, first, rx));
        Writer { tx, task }
    }

    /// Hands a chunk over (waiting while the one before is still queued);
    /// gives it back if this run has ended (idle, or failed): [`Writer::finish`]
    /// it then, and start another.
    pub(super) async fn send(&self, chunk: Vec<u8>) -> Result<(), Vec<u8>> {
        self.tx.send(chunk).await.map_err(|e| e.0)
    }

    /// Waits until everything handed over is written; the file back.
    pub(super) async fn finish(self) -> io::Result<ScratchFile> {
        drop(self.tx);
        self.task.await.map_err(io::Error::other)?
    }
}

fn run(
    handle: &tokio::runtime::Handle,
    start: Start,
    first: Vec<u8>,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> io::Result<ScratchFile> {
    let mut scratch = match start {
        Start::Open(scratch) => scratch,
        Start::New { spool, front, head } => {
            let (file, path) = spool.incoming()?;
            let mut scratch = ScratchFile { file, path, front };
            if let Some(front) = &scratch.front {
                scratch.file.write_all(&front.prefix)?;
            }
            scratch.file.write_all(&head)?;
            scratch
        }
    };
    scratch.file.write_all(&first)?;
    drop(first);
    loop {
        match handle.block_on(tokio::time::timeout(IDLE, rx.recv())) {
            Ok(Some(chunk)) => scratch.file.write_all(&chunk)?,
            // The session has handed everything over.
            Ok(None) => return Ok(scratch),
            Err(_) => {
                // Idle: no chunk gets in any more, and any that got in
                // before the channel closed is written, never dropped
                // (`recv` until `None`, not `try_recv`: a send holding a
                // permit when the channel closed still delivers its chunk).
                rx.close();
                while let Some(chunk) = handle.block_on(rx.recv()) {
                    scratch.file.write_all(&chunk)?;
                }
                return Ok(scratch);
            }
        }
    }
}
