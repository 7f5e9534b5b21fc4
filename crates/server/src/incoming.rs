//! The content of the message a session is receiving (docs/reference.md §6: memory stays
//! bounded whatever clients send). The session hands it over as it arrives
//! (`Action::MessageData`); the first [`SPILL`] octets stay in memory (all
//! of a typical message, which then costs no extra file), and past them
//! everything goes to a file in the spool's `tmp/`, written by a blocking
//! thread as it comes (`writer.rs`), so a session holds a few reads at
//! most however large the message.
//!
//! The file is scratch: never fsynced, removed when the message is stored,
//! refused or abandoned (and by `Spool::recover` after a crash). Storing
//! copies it, behind the trace headers, into the durable queue and Maildir
//! files (`store.rs`), which are fsynced before the `250` as ever; or,
//! when it starts with those headers already ([`Front`]), fsyncs it and
//! links it into the Maildirs.

mod writer;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use portcullis_store::content::Content;
use portcullis_store::spool::Spool;
use tracing::warn;

use writer::{Start, Writer};

/// Octets of a message kept in memory before it goes to a file.
pub(crate) const SPILL: usize = 64 * 1024;

/// The message being received.
pub(crate) struct Incoming {
    spool: Arc<Spool>,
    body: Body,
    /// Writing the file, once the message outgrew [`SPILL`] (between runs
    /// the file is in `body`).
    writer: Option<Writer>,
    /// A write to the file failed: the message gets `451` at its end.
    failed: Option<String>,
}

/// A received message's content, as handed to the store step.
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// The first octets (up to [`SPILL`]): all of a small message, the
    /// header section of nearly any. A large message's are dropped while
    /// the rest arrives, and read back from its file at the end.
    head: Vec<u8>,
    /// Everything, once the message outgrew [`SPILL`].
    file: Option<ScratchFile>,
    size: u64,
}

/// A file in the spool's `tmp/`, removed when dropped.
#[derive(Debug)]
struct ScratchFile {
    file: File,
    path: PathBuf,
    /// What the file holds ahead of the content, if anything.
    front: Option<Front>,
}

/// The trace headers a large message's Maildir copies get, worked out
/// when its content outgrew memory and written ahead of it in its scratch
/// file, so that the file can become the Maildir file itself (linked, not
/// copied: `store.rs`). Only for a message whose every copy goes to a
/// Maildir and whose headers are known before its end (no inbound checks).
#[derive(Debug)]
pub(crate) struct Front {
    /// The queue id the message gets.
    pub id: String,
    /// Its time of receipt, for the `Received:` date.
    pub at: SystemTime,
    /// The octets written ahead of the content.
    pub prefix: Vec<u8>,
}

impl ScratchFile {
    /// Where the content starts in the file.
    fn start(&self) -> u64 {
        self.front.as_ref().map_or(0, |f| f.prefix.len() as u64)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            warn!("cannot remove {}: {e}", self.path.display());
        }
    }
}

impl Incoming {
    /// Nothing received yet.
    pub(crate) fn new(spool: Arc<Spool>) -> Incoming {
        Incoming {
            spool,
            body: Body::default(),
            writer: None,
            failed: None,
        }
    }

    /// Appends content; past [`SPILL`] octets it goes to the file's writer.
    /// `front` is asked, with the first [`SPILL`] octets, what the file
    /// holds ahead of the content, once, when the file is made. A failed
    /// write is remembered for [`Incoming::take`].
    pub(crate) async fn append(
        &mut self,
        mut bytes: Vec<u8>,
        front: impl FnOnce(&[u8]) -> Option<Front>,
    ) {
        if self.failed.is_some() {
            return;
        }
        let body = &mut self.body;
        body.size += bytes.len() as u64;
        let spilled = self.writer.is_some() || body.file.is_some();
        if !spilled && body.head.len() + bytes.len() <= SPILL {
            body.head.extend_from_slice(&bytes);
            return;
        }
        if !spilled {
            // The head keeps the first SPILL octets, whatever the chunk sizes.
            let room = SPILL - body.head.len();
            body.head.extend_from_slice(&bytes[..room]);
            bytes.drain(..room);
            let front = front(&body.head);
            let start = Start::New {
                spool: self.spool.clone(),
                front,
                head: mem::take(&mut body.head),
            };
            self.writer = Some(Writer::spawn(start, bytes));
            return;
        }
        // Queued behind the writer: hold no more than the content.
        bytes.shrink_to_fit();
        let bytes = match &self.writer {
            Some(writer) => match writer.send(bytes).await {
                Ok(()) => return,
                Err(bytes) => bytes,
            },
            None => bytes,
        };
        // No writer running (the last run ended idle, or failed): go on
        // with the file in another.
        let file = match self.writer.take() {
            Some(writer) => writer.finish().await,
            None => self
                .body
                .file
                .take()
                .ok_or_else(|| io::Error::other("no file")),
        };
        match file {
            Ok(file) => self.writer = Some(Writer::spawn(Start::Open(file), bytes)),
            Err(e) => self.fail(e.to_string()),
        }
    }

    /// Forgets the content received so far (the message was refused or
    /// abandoned): its file is removed once its writer is done. The next
    /// content starts a new message.
    pub(crate) async fn discard(&mut self) {
        if let Some(writer) = self.writer.take() {
            drop(writer.finish().await);
        }
        self.body = Body::default();
        self.failed = None;
    }

    /// The complete message's content, or why it could not be kept; the
    /// next content starts a new message.
    pub(crate) async fn take(&mut self) -> Result<Body, String> {
        if let Some(writer) = self.writer.take() {
            match writer.finish().await {
                Ok(file) => self.body.file = Some(file),
                Err(e) => self.fail(e.to_string()),
            }
        }
        let body = mem::take(&mut self.body);
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if body.file.is_none() {
            return Ok(body);
        }
        // Allocated here, not on the blocking thread: a pool thread's own
        // malloc arena would keep the memory after the message is gone.
        let head = vec![0; usize::try_from(body.size).map_or(SPILL, |size| size.min(SPILL))];
        let read = tokio::task::spawn_blocking(move || {
            let mut body = body;
            body.read_head(head)?;
            Ok::<_, io::Error>(body)
        });
        match read.await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn fail(&mut self, error: String) {
        warn!("cannot spool the message being received: {error}");
        self.body = Body::default();
        self.failed = Some(error);
    }
}

impl Body {
    /// Its size in octets.
    pub(crate) fn len(&self) -> u64 {
        self.size
    }

    /// The first octets, up to [`SPILL`] (all of them for a small message):
    /// enough to look at the header section at the end of data.
    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether it went to a file (tests of the memory bound).
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Reads its first octets back from its file, as many as `head` holds.
    fn read_head(&mut self, mut head: Vec<u8>) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let Some(scratch) = &self.file else {
            return Ok(());
        };
        scratch.file.read_exact_at(&mut head, scratch.start())?;
        self.head = head;
        Ok(())
    }

    /// What its file holds ahead of the content ([`Front`]), if anything.
    pub(crate) fn front(&self) -> Option<&Front> {
        self.file.as_ref()?.front.as_ref()
    }

    /// Its file, made durable, if the file holds exactly `prefix` and then
    /// the content (the [`Front`] written when it spilled is `prefix`):
    /// the file can then become a Maildir file as it is.
    pub(crate) fn seal(&self, prefix: &[u8]) -> io::Result<Option<&Path>> {
        let Some(scratch) = &self.file else {
            return Ok(None);
        };
        let holds_prefix = scratch.front.as_ref().is_some_and(|f| f.prefix == prefix);
        let len = prefix.len() as u64 + self.size;
        if !holds_prefix || scratch.file.metadata()?.len() != len {
            return Ok(None);
        }
        scratch.file.sync_all()?;
        Ok(Some(&scratch.path))
    }

    /// Writes it all to `out`: from memory, or copied from its file in the
    /// kernel (`copy_file_range`), never through a buffer of its size.
    pub(crate) fn write_to(&self, out: &mut File) -> io::Result<()> {
        let Some(scratch) = &self.file else {
            return out.write_all(&self.head);
        };
        let mut src = &scratch.file;
        src.seek(SeekFrom::Start(scratch.start()))?;
        let copied = io::copy(&mut src, out)?;
        if copied != self.size {
            return Err(io::Error::other(format!(
                "{} holds {copied} octets of a {}-octet message",
                scratch.path.display(),
                self.size
            )));
        }
        Ok(())
    }
}

impl Body {
    /// Hands the content to `f` in chunks, from memory or read back from
    /// its file, never as one buffer of its size (for DKIM signing).
    pub(crate) fn feed(&self, f: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let Some(scratch) = &self.file else {
            f(&self.head);
            return Ok(());
        };
        let mut buf = vec![0u8; SPILL];
        let mut at = 0u64;
        while at < self.size {
            let n = scratch.file.read_at(&mut buf, scratch.start() + at)?;
            if n == 0 {
                return Err(io::Error::other(format!(
                    "{} ends at {at} of {} octets",
                    scratch.path.display(),
                    self.size
                )));
            }
            let n = n.min(usize::try_from(self.size - at).unwrap_or(usize::MAX));
            f(&buf[..n]);
            at += n as u64;
        }
        Ok(())
    }
}

/// Trace headers, then a received message: what the queue and Maildir
/// files hold.
pub(crate) struct Prefixed<'a> {
    pub prefix: &'a [u8],
    /// Written in place of the first `skip` octets of the body (a header
    /// section with forged fields dropped); empty with `skip` 0 otherwise.
    pub headers: &'a [u8],
    pub skip: u64,
    pub body: &'a Body,
    /// The body's file when it holds exactly this content, durable
    /// ([`Body::seal`]): a Maildir delivery links it in.
    pub durable: Option<&'a Path>,
}

impl Content for Prefixed<'_> {
    fn size(&self) -> u64 {
        self.prefix.len() as u64 + self.headers.len() as u64 + self.body.len() - self.skip
    }

    fn durable_file(&self) -> Option<&Path> {
        self.durable
    }

    fn write_to(&self, file: &mut File) -> io::Result<()> {
        file.write_all(self.prefix)?;
        if self.skip == 0 {
            file.write_all(self.headers)?;
            return self.body.write_to(file);
        }
        file.write_all(self.headers)?;
        let mut result = Ok(());
        let mut at = 0u64;
        self.body.feed(&mut |chunk| {
            let len = chunk.len() as u64;
            let from = self.skip.saturating_sub(at).min(len);
            if result.is_ok() && from < len {
                result = file.write_all(&chunk[from as usize..]);
            }
            at += len;
        })?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool() -> (tempfile::TempDir, Arc<Spool>) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        (dir, spool)
    }

    fn tmp_files(spool: &Spool) -> usize {
        std::fs::read_dir(spool.dir().join("tmp")).unwrap().count()
    }

    fn copy_out(body: &Body) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut out = File::create(&path).unwrap();
        Prefixed {
            prefix: b"Received: x\r\n",
            headers: b"",
            skip: 0,
            body,
            durable: None,
        }
        .write_to(&mut out)
        .unwrap();
        std::fs::read(&path).unwrap()
    }

    #[tokio::test]
    async fn a_small_message_stays_in_memory() {
        let (_dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        incoming
            .append(b"Subject: a\r\n\r\n".to_vec(), |_| None)
            .await;
        incoming.append(b"hi\r\n".to_vec(), |_| None).await;
        let body = incoming.take().await.unwrap();
        assert!(!body.spilled());
        assert_eq!(tmp_files(&spool), 0);
        assert_eq!(copy_out(&body), b"Received: x\r\nSubject: a\r\n\r\nhi\r\n");
    }

    #[tokio::test]
    async fn a_large_message_goes_to_a_file_that_is_removed_after_use() {
        let (_dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        let mut all = Vec::new();
        for n in 0..100u8 {
            let chunk = vec![b'a' + n % 26; 10_000];
            all.extend_from_slice(&chunk);
            incoming.append(chunk, |_| None).await;
        }
        let body = incoming.take().await.unwrap();
        assert!(body.spilled());
        assert_eq!(body.head(), &all[..SPILL]);
        assert_eq!(body.len(), all.len() as u64);
        assert_eq!(tmp_files(&spool), 1);
        let copied = copy_out(&body);
        assert_eq!(&copied[13..], &all[..]);
        // Copied twice (two Maildirs): the same bytes.
        assert_eq!(copy_out(&body), copied);
        drop(body);
        assert_eq!(tmp_files(&spool), 0);
    }

    #[tokio::test]
    async fn a_sender_that_pauses_gets_its_content_written_in_order() {
        let (_dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        let all: Vec<u8> = (0..4 * SPILL).map(|i| (i % 251) as u8).collect();
        for (n, chunk) in all.chunks(SPILL / 3).enumerate() {
            incoming.append(chunk.to_vec(), |_| None).await;
            if n % 4 == 3 {
                // A client pausing: the writer's run ends idle, and the
                // next chunk starts another on the same file.
                tokio::time::sleep(writer::IDLE * 3).await;
            }
        }
        let body = incoming.take().await.unwrap();
        assert_eq!(body.head(), &all[..SPILL]);
        assert_eq!(&copy_out(&body)[13..], &all[..]);
    }

    #[tokio::test]
    async fn a_replaced_header_section_stands_in_for_the_skipped_octets() {
        let (dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        let mut all = b"X-Forged: 1\r\nSubject: a\r\n\r\n".to_vec();
        all.extend(vec![b'b'; 3 * SPILL]);
        incoming.append(all.clone(), |_| None).await;
        let body = incoming.take().await.unwrap();
        assert!(body.spilled());
        let prefixed = Prefixed {
            prefix: b"P: 1\r\n",
            headers: b"Subject: a\r\n",
            skip: 26,
            body: &body,
            durable: None,
        };
        let path = dir.path().join("rewritten");
        prefixed
            .write_to(&mut File::create(&path).unwrap())
            .unwrap();
        let got = std::fs::read(&path).unwrap();
        let mut want = b"P: 1\r\nSubject: a\r\n".to_vec();
        want.extend_from_slice(&all[26..]);
        assert_eq!(got, want);
        assert_eq!(prefixed.size(), want.len() as u64);
    }

    fn front(prefix: &[u8]) -> Option<Front> {
        Some(Front {
            id: "ID".to_string(),
            at: SystemTime::now(),
            prefix: prefix.to_vec(),
        })
    }

    #[tokio::test]
    async fn a_front_goes_ahead_of_the_content_and_only_its_own_prefix_seals_the_file() {
        let (_dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        let all: Vec<u8> = (0..3 * SPILL).map(|i| b'a' + (i % 26) as u8).collect();
        let mut asked = Vec::new();
        for chunk in all.chunks(10_000) {
            incoming
                .append(chunk.to_vec(), |head| {
                    asked.push(head.to_vec());
                    front(b"Return-Path: <>\r\n")
                })
                .await;
        }
        // Asked once, with the first SPILL octets.
        assert_eq!(asked, [all[..SPILL].to_vec()]);
        let body = incoming.take().await.unwrap();
        assert_eq!(body.front().unwrap().id, "ID");
        // Copies and reads skip the front.
        assert_eq!(&copy_out(&body)[13..], &all[..]);
        let mut fed = Vec::new();
        body.feed(&mut |c| fed.extend_from_slice(c)).unwrap();
        assert_eq!(fed, all);
        assert!(body.seal(b"Return-Path: <x@y>\r\n").unwrap().is_none());
        let path = body.seal(b"Return-Path: <>\r\n").unwrap().unwrap();
        let mut want = b"Return-Path: <>\r\n".to_vec();
        want.extend_from_slice(&all);
        assert_eq!(std::fs::read(path).unwrap(), want);
    }

    #[tokio::test]
    async fn a_small_message_has_no_front_and_no_file() {
        let (_dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        incoming
            .append(b"hi\r\n".to_vec(), |_| front(b"X: 1\r\n"))
            .await;
        let body = incoming.take().await.unwrap();
        assert!(body.front().is_none());
        assert!(body.seal(b"X: 1\r\n").unwrap().is_none());
    }

    #[tokio::test]
    async fn a_discarded_message_leaves_nothing_and_the_next_starts_fresh() {
        let (_dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        incoming.append(vec![b'x'; 3 * SPILL], |_| None).await;
        // Its writer makes the file on its own thread.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tmp_files(&spool) == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(tmp_files(&spool), 1);
        incoming.discard().await;
        assert_eq!(tmp_files(&spool), 0);
        incoming.append(b"next\r\n".to_vec(), |_| None).await;
        assert_eq!(
            copy_out(&incoming.take().await.unwrap()),
            b"Received: x\r\nnext\r\n"
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_at_the_end() {
        let (dir, spool) = spool();
        let mut incoming = Incoming::new(spool.clone());
        std::fs::remove_dir(dir.path().join("queue/tmp")).unwrap();
        incoming.append(vec![b'x'; 2 * SPILL], |_| None).await;
        incoming.append(b"more".to_vec(), |_| None).await;
        assert!(incoming.take().await.is_err());
        // The next message is not affected by the last one's failure.
        incoming.append(b"ok".to_vec(), |_| None).await;
        assert!(incoming.take().await.is_ok());
    }
}
