//! Delivery through `relay.smarthost` (issue 5 §3): STARTTLS with the
//! certificate verified (trusted here through `tls.outbound_ca`), then AUTH
//! with the configured user and the password read from its file. Without
//! TLS, or with a certificate nobody vouches for, the password never leaves
//! and the mail waits in the queue with the reason.

use portcullis_testkit as common;

use std::path::Path;

use common::outbound::{send, wait_queue_empty, wait_queue_list, DELIVERY_TIMEOUT, LO};
use common::sink::{self_signed_tls, Script, Sink};
use common::{toml_str, Setup};

const USER: &str = "relayuser";
const PASSWORD: &str = "s3cret-relay-pw";

/// The password file, named relative to the configuration's directory.
fn write_password(setup: &Setup, password: &str) {
    std::fs::write(
        setup.dir().join("smarthost.secret"),
        format!("{password}\n"),
    )
    .expect("write password file");
}

fn smarthost_config(sink: std::net::SocketAddr, ca: Option<&Path>) -> String {
    let mut t = format!(
        "[relay]\nallow = [\"127.0.0.1\"]\nsmarthost = \"{sink}\"\n\
         smarthost_user = \"{USER}\"\nsmarthost_password_file = \"smarthost.secret\"\n\n\
         [queue]\nretry_min = 1\nretry_max = 2\n"
    );
    if let Some(ca) = ca {
        t.push_str(&format!(
            "\n[tls]\noutbound_ca = {}\n",
            toml_str(&ca.to_string_lossy())
        ));
    }
    t
}

fn auth_script(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> Script {
    Script {
        tls,
        auth: Some((USER.to_string(), PASSWORD.to_string())),
        require_auth: true,
        ..Script::default()
    }
}

#[test]
fn mail_goes_through_the_smarthost_with_auth_over_verified_tls() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (tls, ca) = self_signed_tls(certs.path());
    let sink = Sink::start(LO, auth_script(Some(tls)));
    let setup = Setup::new(&smarthost_config(sink.addr, Some(&ca)));
    write_password(&setup, PASSWORD);
    let server = setup.start();
    // Any domain: the smarthost takes everything.
    send(
        &server,
        "alice@local.test",
        &["bob@anywhere.example"],
        b"Subject: via smarthost\r\n\r\nx\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(
        got.len(),
        1,
        "nothing reached the smarthost\n{}",
        server.log()
    );
    assert!(got[0].tls, "delivered without TLS");
    assert_eq!(got[0].auth_user.as_deref(), Some(USER));
    assert_eq!(got[0].rcpts, ["bob@anywhere.example"]);
    assert!(wait_queue_empty(&server));
    let log = server.log();
    assert!(log.contains("authenticated to the smarthost"), "{log}");
    assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");
}

#[test]
fn no_password_crosses_without_tls() {
    // The smarthost offers AUTH but no STARTTLS.
    let sink = Sink::start(LO, auth_script(None));
    let setup = Setup::new(&smarthost_config(sink.addr, None));
    write_password(&setup, PASSWORD);
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@anywhere.example"],
        b"Subject: x\r\n\r\nx\r\n",
    );
    let list = wait_queue_list(&server, |out| out.contains("last error"));
    assert!(
        list.contains("TLS is required but 127.0.0.1[127.0.0.1] does not offer STARTTLS"),
        "{list}"
    );
    assert!(sink.received().is_empty());
}

#[test]
fn an_unverifiable_smarthost_certificate_keeps_the_mail_queued() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (tls, _ca) = self_signed_tls(certs.path());
    let sink = Sink::start(LO, auth_script(Some(tls)));
    // No tls.outbound_ca: the self-signed certificate is not trusted.
    let setup = Setup::new(&smarthost_config(sink.addr, None));
    write_password(&setup, PASSWORD);
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@anywhere.example"],
        b"Subject: x\r\n\r\nx\r\n",
    );
    let list = wait_queue_list(&server, |out| out.contains("last error"));
    assert!(
        list.contains("4.7.5 TLS with 127.0.0.1[127.0.0.1] failed"),
        "{list}"
    );
    assert!(sink.received().is_empty());
}

#[test]
fn a_wrong_password_defers_instead_of_bouncing() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (tls, ca) = self_signed_tls(certs.path());
    let sink = Sink::start(LO, auth_script(Some(tls)));
    let setup = Setup::new(&smarthost_config(sink.addr, Some(&ca)));
    write_password(&setup, "not-the-password");
    setup.add_user("alice", "pw-alice-1");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@anywhere.example"],
        b"Subject: x\r\n\r\nx\r\n",
    );
    let list = wait_queue_list(&server, |out| out.contains("last error"));
    assert!(list.contains("said: 535 5.7.8"), "{list}");
    assert!(
        list.contains("last error: 4.7.8"),
        "an AUTH refusal must be temporary: {list}"
    );
    assert!(
        server.maildir_messages("alice").is_empty(),
        "bounced on a wrong password"
    );
}

#[test]
fn opportunistic_tls_to_a_route_accepts_any_certificate() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (tls, _ca) = self_signed_tls(certs.path());
    let sink = Sink::start(
        LO,
        Script {
            tls: Some(tls),
            ..Script::default()
        },
    );
    // A [routes] hop with a self-signed certificate: encrypted, not
    // authenticated (Postfix's "may"), rather than plaintext.
    let server = Setup::new(&common::outbound::routed_config(sink.addr, 1, "")).start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: tls\r\n\r\nx\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "{}", server.log());
    assert!(got[0].tls, "STARTTLS was offered but not used");
    assert_eq!(got[0].auth_user, None);
}

#[test]
fn tls_outbound_require_refuses_plaintext_and_unverified_hosts() {
    // No STARTTLS at all: the message waits.
    let plain = Sink::start(LO, Script::default());
    let server = Setup::new(&common::outbound::routed_config(
        plain.addr,
        1,
        "[tls]\noutbound = \"require\"\n",
    ))
    .start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: x\r\n\r\nx\r\n",
    );
    let list = wait_queue_list(&server, |out| out.contains("last error"));
    assert!(list.contains("4.7.5 TLS is required"), "{list}");
    assert!(plain.received().is_empty());

    // STARTTLS with a certificate trusted through tls.outbound_ca: delivered.
    let certs = tempfile::tempdir().expect("temp dir");
    let (tls, ca) = self_signed_tls(certs.path());
    let secure = Sink::start(
        LO,
        Script {
            tls: Some(tls),
            ..Script::default()
        },
    );
    let extra = format!(
        "[tls]\noutbound = \"require\"\noutbound_ca = {}\n",
        toml_str(&ca.to_string_lossy())
    );
    let server = Setup::new(&common::outbound::routed_config(secure.addr, 1, &extra)).start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: y\r\n\r\ny\r\n",
    );
    let got = secure.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "{}", server.log());
    assert!(got[0].tls);
}
