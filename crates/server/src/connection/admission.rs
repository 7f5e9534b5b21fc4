//! Admission: what happens between accept and the greeting. A banned
//! address, a client over an abuse limit, an early talker or a failed
//! implicit-TLS handshake ends here, before it costs a session.

use std::net::IpAddr;

use portcullis_relay::ReverseDns;
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::stream::{handshake, Stream};
use crate::auth_guard;
use crate::limits::{self, Permit};
use crate::runtime::Runtime;
use crate::{Role, Shared};

/// A connection let in: its stream (under TLS on an implicit-TLS
/// listener), its verified reverse DNS, and its place under the limits.
pub(super) struct Admitted {
    pub(super) stream: Stream,
    pub(super) rdns: ReverseDns,
    /// Frees the connection's place under the limits on drop.
    pub(super) _permit: Permit,
}

/// Lets the connection in, or refuses it (with its 421 where the client
/// can read one) and returns `None`.
pub(super) async fn admit(
    shared: &Shared,
    rt: &Runtime,
    tcp: TcpStream,
    ip: IpAddr,
    role: Role,
) -> Option<Admitted> {
    // A banned address is refused before it costs anything more: no reverse
    // DNS, no greeting. Implicit TLS gets the 421 after the handshake, where
    // the client can read it.
    // Never lock out the operator: an address exempt by its own entry
    // (no DNS needed) is not refused even when its IPv6 /64 was banned, or
    // when the ban predates its never_ban entry.
    let exempt = portcullis_limits::auth_throttle::exemption(
        ip,
        &ReverseDns::NotChecked,
        &rt.site.policy.list,
        &rt.never_ban,
    )
    .is_some();
    let banned = auth_guard::banned(&shared.auth_throttle, ip).filter(|_| !exempt);
    if let (Some(ban), false) = (&banned, role == Role::Submissions) {
        let mut tcp = tcp;
        limits::count(&shared.stats, "auth.ban_after");
        auth_guard::refuse(&mut tcp, ban).await;
        return None;
    }
    // Abuse limits: over one, the client gets 421 4.7.0 before it costs a
    // DNS lookup or a greeting.
    let permit = match limits::admit(rt, ip, &shared.stats) {
        Ok(permit) => permit,
        Err(reply) => {
            if role != Role::Submissions {
                limits::refuse(tcp, &reply).await;
            }
            return None;
        }
    };
    let rdns = if rt.site.policy.list.needs_reverse_dns(ip) || rt.never_ban.needs_reverse_dns(ip) {
        rt.dns.verified_names(ip).await
    } else {
        ReverseDns::NotChecked
    };
    let mut stream = open_stream(shared, rt, tcp, role).await?;
    if let Some(ban) = &banned {
        limits::count(&shared.stats, "auth.ban_after");
        auth_guard::refuse(&mut stream, ban).await;
        return None;
    }
    Some(Admitted {
        stream,
        rdns,
        _permit: permit,
    })
}

/// The stream the session runs on: plaintext after the early-talker
/// check, or TLS at once on an implicit-TLS listener (where the client
/// speaks first by design).
async fn open_stream(shared: &Shared, rt: &Runtime, tcp: TcpStream, role: Role) -> Option<Stream> {
    if role != Role::Submissions {
        let tcp = limits::greet_check(tcp, &rt.config, &shared.stats).await?;
        return Some(Stream::Plain(tcp));
    }
    let Some(tls) = &rt.tls else {
        warn!("no TLS certificate: closing implicit-TLS connection");
        return None;
    };
    match handshake(tls.clone(), tcp).await {
        Ok(s) => {
            shared.stats.tls_handshakes.add("result=\"ok\"");
            Some(s)
        }
        Err(e) => {
            shared.stats.tls_handshakes.add("result=\"failed\"");
            info!("TLS handshake failed: {e}");
            None
        }
    }
}
