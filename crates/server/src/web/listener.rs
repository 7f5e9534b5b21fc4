//! The HTTPS listeners of `[admin] listen`: TLS with the server's
//! certificate (the one of the runtime in force, so a reload that renews it
//! is used by the next connection, as on the SMTP listeners), HTTP/1.1 by
//! hyper, requests answered by the axum router. Reload binds and closes
//! addresses to match; shutdown lets requests in flight finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, error, info, warn};

use crate::Shared;

/// How long a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's head: a slow client
/// cannot hold a connection open for free.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The client address of a request, put in its extensions for the handlers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// The bound admin listeners by address, and the connections they serve.
pub(crate) struct AdminListeners {
    router: Router,
    running: HashMap<SocketAddr, tokio::task::JoinHandle<()>>,
    open: Arc<AtomicUsize>,
}

impl AdminListeners {
    /// No listener yet; `router` answers every request.
    pub(crate) fn new(router: Router) -> AdminListeners {
        AdminListeners {
            router,
            running: HashMap::new(),
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Binds the addresses of `want` not bound yet and closes the others.
    /// Returns the report lines and the addresses that could not be bound,
    /// each as a sentence: the console being off must not stop the mail.
    pub(crate) async fn sync(
        &mut self,
        want: &[SocketAddr],
        shared: &Arc<Shared>,
        shutdown: &watch::Receiver<bool>,
    ) -> (Vec<String>, Vec<String>) {
        let (mut changed, mut failed) = (Vec::new(), Vec::new());
        self.running.retain(|addr, task| {
            let keep = want.contains(addr);
            if !keep {
                info!(addr = %addr, "admin listener closed");
                changed.push(format!("closed listener {addr} (admin)"));
                task.abort();
            }
            keep
        });
        for &addr in want {
            if self.running.contains_key(&addr) {
                continue;
            }
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    info!(addr = %addr, "admin console and API listening (HTTPS)");
                    changed.push(format!("listening on {addr} (admin)"));
                    let task = tokio::spawn(accept_loop(
                        listener,
                        self.router.clone(),
                        shared.clone(),
                        self.open.clone(),
                        shutdown.clone(),
                    ));
                    self.running.insert(addr, task);
                }
                Err(e) => {
                    let sentence = format!("cannot listen on {addr} (admin.listen): {e}");
                    error!("{sentence}");
                    failed.push(sentence);
                }
            }
        }
        (changed, failed)
    }

    /// Stops accepting; connections in flight go on until [`Self::drain`].
    pub(crate) fn close_all(&mut self) {
        for (_, task) in self.running.drain() {
            task.abort();
        }
    }

    /// Waits (bounded) for the connections in flight, once shutdown has
    /// told them to finish their request and close.
    pub(crate) async fn drain(&self) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.open.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    open: Arc<AtomicUsize>,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                // The certificate of the runtime in force now: a reload
                // that changed it applies from the next connection.
                let Some(tls) = shared.current.get().tls.clone() else {
                    warn!(peer = %peer, "admin connection refused: no TLS certificate is loaded");
                    continue;
                };
                let conn = Connection {
                    router: router.clone(),
                    _open: Open::new(&open),
                };
                tokio::spawn(conn.serve(tcp, peer, TlsAcceptor::from(tls), shutdown.clone()));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("admin accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client connection, counted while it lives.
struct Connection {
    router: Router,
    _open: Open,
}

impl Connection {
    async fn serve(
        self,
        tcp: TcpStream,
        peer: SocketAddr,
        acceptor: TlsAcceptor,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
        let stream = tokio::select! {
            result = handshake => match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return debug!(peer = %peer, "admin TLS handshake failed: {e}"),
                Err(_) => return debug!(peer = %peer, "admin TLS handshake timed out"),
            },
            // No request yet, so none to finish: shutdown need not wait.
            () = stopped(&mut shutdown) => return,
        };
        let router = self.router;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            router.clone().oneshot(request)
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = stopped(&mut shutdown) => {
                // Finish the request in flight, then close.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            debug!(peer = %peer, "admin connection ended: {e}");
        }
    }
}

/// Resolves once shutdown has begun (the guard the wait gives is dropped
/// at once: it must not be held across the drain).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Counts a connection as open until dropped.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(open: &Arc<AtomicUsize>) -> Open {
        open.fetch_add(1, Ordering::Relaxed);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
