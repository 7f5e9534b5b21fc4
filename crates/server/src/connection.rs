//! One client connection: admission (bans, limits, reverse DNS, the
//! early-talker check, implicit TLS) in `admission.rs`, then a thin tokio
//! driver around the sans-IO [`Session`](portcullis_smtp::session::Session)
//! in `driver.rs`, which answers the session's questions about recipients
//! and logins (`recipients.rs`) and stores what it accepts (`storing.rs`;
//! a large message's trace headers go ahead of it early: `front.rs`).

mod admission;
mod driver;
mod front;
mod read_buffer;
mod recipients;
mod storing;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use portcullis_relay::range::canonical;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{info, info_span, Instrument};

use super::stats::Stats;
use super::{Role, Shared};
use driver::Driver;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Serves one connection to the end.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    role: Role,
    shutdown: watch::Receiver<bool>,
) {
    // On a proxied listener the real client comes from the PROXY header and
    // takes the peer's place for every decision and log line below.
    let at_accept = shared.current.get();
    let peer = match super::proxy::real_client(&at_accept.config.listen, &mut tcp, peer).await {
        Ok(client) => {
            if let super::proxy::Client::Proxied(_) = client {
                shared.stats.proxy.add("result=\"accepted\"");
            }
            client.addr()
        }
        Err(refused) => {
            shared.stats.proxy.add("result=\"refused\"");
            info!("{refused}");
            return;
        }
    };
    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let ip = canonical(peer.ip());
    let span = info_span!("session", id, client = %ip);
    Stats::bump(&shared.stats.connections);
    shared
        .stats
        .connections_by_role
        .add(&format!("listener=\"{}\"", role.name()));
    shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
    run(&shared, tcp, ip, peer, role, shutdown)
        .instrument(span)
        .await;
    shared.stats.sessions.fetch_sub(1, Ordering::Relaxed);
}

/// Admits the connection, then drives its session to the end.
async fn run(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    ip: IpAddr,
    peer: SocketAddr,
    role: Role,
    shutdown: watch::Receiver<bool>,
) {
    let rt = shared.current.get();
    info!(port = peer.port(), role = role.name(), "connect");
    let _ = tcp.set_nodelay(true);
    // Boxed, as the driver's rare steps are: admission (reverse DNS, TLS)
    // is over before the session idles, so its state need not stay.
    let Some(admitted) = Box::pin(admission::admit(shared, &rt, tcp, ip, role)).await else {
        return;
    };
    // Boxed: the driver's state lives once on the heap, and the task holds
    // only the future of the step it waits on.
    let mut driver = Box::new(Driver::new(shared, rt, ip, role, admitted, shutdown));
    driver.run().await;
}
